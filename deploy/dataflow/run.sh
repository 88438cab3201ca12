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
# GPU workers (the classifier step; IMAGE/TEMPLATE from build.sh with DOCKERFILE=deploy/dataflow/Dockerfile.gpu):
# ACCELERATOR=TYPE:COUNT, e.g. nvidia-l4:1 (MACHINE_TYPE then defaults to g2-standard-4, L4's machine
# family; other types need MACHINE_TYPE), adds the service option
# worker_accelerator=type:TYPE;count:COUNT;install-nvidia-driver and the experiment use_runner_v2.
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

gpu=()
if [ -n "${ACCELERATOR:-}" ]; then
  if ! [[ "$ACCELERATOR" =~ ^([a-z0-9-]+):([1-9][0-9]*)$ ]]; then
    echo "run.sh: ACCELERATOR must be TYPE:COUNT, e.g. nvidia-l4:1 (got '$ACCELERATOR')" >&2
    exit 2
  fi
  GPU_TYPE="${BASH_REMATCH[1]}" GPU_COUNT="${BASH_REMATCH[2]}"
  if [ -z "${MACHINE_TYPE:-}" ]; then
    if [ "$GPU_TYPE" != nvidia-l4 ]; then
      echo "run.sh: set MACHINE_TYPE for $GPU_TYPE (a machine type that takes $GPU_COUNT of it)" >&2
      exit 2
    fi
    MACHINE_TYPE=g2-standard-4
  fi
  gpu=(--additional-experiments "use_runner_v2"
       --additional-pipeline-options "dataflow_service_options=worker_accelerator=type:$GPU_TYPE;count:$GPU_COUNT;install-nvidia-driver")
fi

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
  "${args[@]}" ${gpu[@]+"${gpu[@]}"}

echo "https://console.cloud.google.com/dataflow/jobs?project=$PROJECT (job $JOB_NAME in $REGION)"
