#!/bin/sh
# The diloco command inside the image: the jar and its libraries as the Dockerfile laid them out.
exec java ${DILOCO_JAVA_OPTS:-} -cp "/opt/diloco/launcher.jar:/opt/diloco/lib/*" \
  dev.diloco.launcher.Diloco "$@"
