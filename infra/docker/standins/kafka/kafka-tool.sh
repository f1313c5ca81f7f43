#!/bin/bash
# The Kafka distribution's bin/<tool>.sh, by the name it is called with.
set -euo pipefail
case "$(basename "$0")" in
    kafka-topics.sh) main=org.apache.kafka.tools.TopicCommand ;;
    kafka-consumer-groups.sh) main=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    kafka-storage.sh) main=kafka.tools.StorageTool ;;
    *) echo "unknown tool $0" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086 # KAFKA_OPTS holds several JVM options
exec java -Xmx256m ${KAFKA_OPTS:-} -Dlog4j2.level=WARN \
    -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
    -cp '/opt/kafka/libs/*' "$main" "$@"
