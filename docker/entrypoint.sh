#!/bin/sh
# Secrets come as files (compose secrets, Kubernetes secret volumes): every variable NAME_FILE=/path
# becomes NAME=<the file's content> (secrets-env.sh), so no credential sits in the compose file, the image
# or `docker inspect`.
# Then `init-airflow` / `init-lienthong` run the one-shot set-up, anything else is exec'd as given.
set -eu

. "$(dirname "$0")/secrets-env.sh"

# Airflow's UI/REST users (SimpleAuthManager): their passwords from a secret file, never generated into a log
if [ -r /run/secrets/airflow_passwords ] && [ -n "${AIRFLOW_HOME:-}" ]; then
    install -m 0600 /run/secrets/airflow_passwords "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
fi

case "${1:-}" in
    init-airflow)
        # migrate Airflow's metadata DB (idempotent) and create one pool per agency system
        exec python -c "from lienthong.airflow.setup import prepare; print(prepare())"
        ;;
    init-lienthong)
        # the lookup API's audit tables, owned by the writer role, appendable by the API role
        exec python -m lienthong_db_init
        ;;
esac
exec "$@"
