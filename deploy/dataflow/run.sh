#!/usr/bin/env bash
# Run a recipe on Dataflow from the flex template that build.sh wrote.
#
#   PROJECT=my-project REGION=europe-west4 BUCKET=my-bucket IMAGE=... TEMPLATE=gs://... \
#     deploy/dataflow/run.sh gs://my-bucket/recipes/fineweb.yaml dump=CC-MAIN-2024-33
#
# Arguments after the recipe are recipe parameters NAME=VALUE ({NAME} in its paths).
# Optional: OUTPUT (gs:// directory instead of the recipe's), INPUT ([NAME=]GLOB;...),
# MACHINE_TYPE (default n2-standard-4), MAX_WORKERS (default 10), DISK_SIZE_GB,
# SERVICE_ACCOUNT (the workers' identity; default: the Compute Engine default account), JOB_NAME.
# Dataflow's temporary and staging files go to gs://$BUCKET/dataflow/{temp,staging}.
# The output directory must not hold an earlier run: the launcher refuses to overwrite.
set -euo pipefail

: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}"
: "${IMAGE:?set IMAGE (printed by build.sh)}" "${TEMPLATE:?set TEMPLATE (printed by build.sh)}"
RECIPE="${1:?usage: run.sh RECIPE [NAME=VALUE ...]}"
shift
PARAMS="$(IFS=';'; echo "$*")"
STEM="$(basename "${RECIPE%.*}" | tr 'A-Z_.' 'a-z--' | tr -cd 'a-z0-9-')"
JOB_NAME="${JOB_NAME:-thresher-$STEM-$(date -u +%Y%m%d-%H%M%S)}"

args=(
  --parameters "recipe=$RECIPE"
  --parameters "sdk_container_image=$IMAGE"
  --parameters "machine_type=${MACHINE_TYPE:-n2-standard-4}"
  --parameters "max_num_workers=${MAX_WORKERS:-10}"
)
[ -n "$PARAMS" ] && args+=(--parameters "params=$PARAMS")
[ -n "${OUTPUT:-}" ] && args+=(--parameters "output=$OUTPUT")
[ -n "${INPUT:-}" ] && args+=(--parameters "input=$INPUT")
[ -n "${DISK_SIZE_GB:-}" ] && args+=(--parameters "disk_size_gb=$DISK_SIZE_GB")
[ -n "${SERVICE_ACCOUNT:-}" ] && args+=(--service-account-email "$SERVICE_ACCOUNT")

gcloud dataflow flex-template run "$JOB_NAME" \
  --project "$PROJECT" \
  --region "$REGION" \
  --template-file-gcs-location "$TEMPLATE" \
  --temp-location "gs://$BUCKET/dataflow/temp" \
  --staging-location "gs://$BUCKET/dataflow/staging" \
  "${args[@]}"

echo "https://console.cloud.google.com/dataflow/jobs?project=$PROJECT (job $JOB_NAME in $REGION)"
