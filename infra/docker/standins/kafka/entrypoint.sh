#!/bin/bash
# As the official image: every KAFKA_<NAME> variable becomes a broker property (`_` → `.`,
# `__` → `_`, `___` → `-`, lower-cased), except the JVM's own (KAFKA_HEAP_OPTS, KAFKA_OPTS, …);
# storage is formatted with CLUSTER_ID on the first start; then the broker runs in the foreground.
set -euo pipefail
conf=/opt/kafka/config/server.properties
: >"$conf"
while IFS='=' read -r name value; do
    case "$name" in
        KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JMX_OPTS | KAFKA_LOG4J_OPTS | KAFKA_GC_LOG_OPTS | \
            KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_VERSION) continue ;;
    esac
    key=${name#KAFKA_}
    key=${key//___/-}
    key=${key//__/@}
    key=${key//_/.}
    key=${key//@/_}
    printf '%s=%s\n' "${key,,}" "$value" >>"$conf"
done < <(env | grep -E '^KAFKA_[A-Z0-9_]+=' || true)
grep -q '^log.dirs=' "$conf" || echo "log.dirs=/var/lib/kafka/data" >>"$conf"

log_dir=$(sed -n 's/^log\.dirs=//p' "$conf" | cut -d, -f1)
if [ ! -f "$log_dir/meta.properties" ]; then
    : "${CLUSTER_ID:?CLUSTER_ID must be set to format the storage}"
    /opt/kafka/bin/kafka-storage.sh format -t "$CLUSTER_ID" -c "$conf" --ignore-formatted
fi

# shellcheck disable=SC2086 # the *_OPTS hold several JVM options each
exec java ${KAFKA_HEAP_OPTS:--Xmx1g -Xms1g} -XX:+UseG1GC ${KAFKA_OPTS:-} \
    -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
    -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
