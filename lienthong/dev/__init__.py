"""Developer tools: the demo, `make up`, the DAG integrity check. Production never imports these."""
