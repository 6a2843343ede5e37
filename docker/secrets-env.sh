# Sourced by entrypoint.sh and healthcheck.sh: every variable NAME_FILE=/path becomes NAME=<the file's
# content> (compose secrets, Kubernetes secret volumes), so no credential sits in the compose file, the image
# or `docker inspect`. A health check runs through `docker exec`, without the entrypoint: it sources this too.
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
