#!/bin/sh
# Secrets come as files (compose secrets, Kubernetes secret volumes): every variable NAME_FILE=/path
# becomes NAME=<the file's content>, so no credential sits in the compose file, the image or `docker inspect`.
# Then `init-airflow` / `init-lienthong` run the one-shot set-up, anything else is exec'd as given.
set -eu

for assignment in $(env | grep -E '^[A-Z0-9_]+_FILE=' | cut -d= -f1); do
    name=${assignment%_FILE}
    path=$(printenv "$assignment")
    if [ ! -r "$path" ]; then
        echo "entrypoint: $assignment names $path, which cannot be read" >&2
        exit 78
    fi
    value=$(cat "$path")
    export "$name=$value"
    unset "$assignment"
done

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
