#!/usr/bin/env bash
# Launch the Thresher flex template on a cron schedule with Cloud Scheduler.
#
#   PROJECT=my-project REGION=europe-west4 BUCKET=my-bucket IMAGE=... TEMPLATE=gs://... \
#   RECIPE=gs://my-bucket/recipes/incoming.yaml SCHEDULER_SA=thresher-scheduler@my-project.iam.gserviceaccount.com \
#     deploy/scheduler/create-job.sh --param run=%Y-%m
#
# Arguments are `thresher template-body` options (--param, --input, --output, --machine-type,
# --max-workers, --disk-size-gb, --service-account). Cloud Scheduler POSTs the same body every
# time, so give the recipe a parameter for its output path and fill it from the launch date
# (strftime codes such as %Y-%m are filled by the launcher): each run gets its own directory,
# and a run never overwrites one that holds an earlier run (there is no overwrite option).
# SCHEDULER_SA needs roles/dataflow.developer and roles/iam.serviceAccountUser on the workers'
# service account; the caller needs roles/cloudscheduler.admin.
set -euo pipefail

: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}"
: "${IMAGE:?set IMAGE}" "${TEMPLATE:?set TEMPLATE}" "${RECIPE:?set RECIPE (gs:// recipe)}"
: "${SCHEDULER_SA:?set SCHEDULER_SA (service account email the scheduler calls Dataflow as)}"
NAME="${NAME:-thresher-monthly}"
SCHEDULE="${SCHEDULE:-0 3 2 * *}"   # 03:00 on the 2nd of every month
TIME_ZONE="${TIME_ZONE:-Etc/UTC}"

BODY="$(thresher template-body "$RECIPE" \
  --template "$TEMPLATE" \
  --image "$IMAGE" \
  --job-name "${JOB_NAME:-$NAME}" \
  --temp-location "gs://$BUCKET/dataflow/temp" \
  --staging-location "gs://$BUCKET/dataflow/staging" \
  "$@")"

gcloud scheduler jobs create http "$NAME" \
  --project "$PROJECT" \
  --location "$REGION" \
  --schedule "$SCHEDULE" \
  --time-zone "$TIME_ZONE" \
  --uri "https://dataflow.googleapis.com/v1b3/projects/$PROJECT/locations/$REGION/flexTemplates:launch" \
  --http-method POST \
  --headers "Content-Type=application/json" \
  --message-body "$BODY" \
  --oauth-service-account-email "$SCHEDULER_SA" \
  --oauth-token-scope "https://www.googleapis.com/auth/cloud-platform"

echo "created $NAME ($SCHEDULE $TIME_ZONE); run it now with: gcloud scheduler jobs run $NAME --project $PROJECT --location $REGION"
