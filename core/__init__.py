"""The base layer: settings, errors and the database engine factory.

Everything else imports from here; this package imports nothing of the project. Keep it small: a thing
belongs here only when every stage of the flow needs it and none of them owns it.
"""
