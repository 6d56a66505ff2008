#!/usr/bin/env bash
# make demo: one user's story, told against the running system (`make run` in another terminal).
# It makes a short video, registers a new user, logs in, uploads, follows the job, reads the
# email that says the MP3 is ready and downloads it. Each step first prints the command a person
# would type to do the same by hand.
set -euo pipefail

cd "$(dirname "$0")/.."
readonly gateway=localhost:8080
readonly mail_dir=.stack/mail/new
readonly job_timeout_seconds=60 mail_timeout_seconds=30

step() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; }
fail() {
  echo "demo: $*" >&2
  exit 1
}

# Print the headers a person looks at and the plain-text body of one email file, decoded.
print_email() {
  python3 - "$1" <<'EOF'
import email
import email.policy
import sys

with open(sys.argv[1], "rb") as message_file:
    message = email.message_from_binary_file(message_file, policy=email.policy.default)
for header in ("Date", "From", "To", "Subject"):
    if message[header] is not None:
        print(f"{header}: {message[header]}")
print()
body = message.get_body(preferencelist=("plain",))
print(body.get_content() if body is not None else "(the email has no text/plain part)")
EOF
}

for tool in curl ffmpeg ffprobe openssl python3; do
  command -v "$tool" >/dev/null || fail "this demo needs $tool on the PATH"
done

if ! curl --silent --fail --max-time 3 --output /dev/null "$gateway/healthz"; then
  fail "the gateway isn't answering on $gateway: start the system with \`make run\` in another terminal, then run \`make demo\` again"
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/mp3-demo.XXXXXX")
sample=$work_dir/sample.mp4
mp3=$work_dir/sample.mp3

step "1. Make a 10-second video: a test pattern, with an arpeggio over a bass note and a little noise"
video_source="testsrc=duration=10:size=640x360:rate=25"
music_source="aevalsrc=exprs='st(0, 220*pow(2, (4*eq(mod(floor(4*t), 4), 1) + 7*eq(mod(floor(4*t), 4), 2) + 12*eq(mod(floor(4*t), 4), 3))/12)); 0.4*exp(-6*mod(t, 0.25))*sin(2*PI*ld(0)*t) + 0.15*sin(2*PI*110*t)':duration=10"
noise_source="anoisesrc=color=pink:amplitude=0.03:duration=10"
show "ffmpeg -f lavfi -i \"$video_source\" -f lavfi -i \"$music_source\" -f lavfi -i \"$noise_source\"" \
  "-filter_complex \"[1:a][2:a]amix=inputs=2[audio]\" -map 0:v -map \"[audio]\"" \
  "-c:v libx264 -pix_fmt yuv420p -c:a aac -shortest $sample"
ffmpeg -hide_banner -loglevel error \
  -f lavfi -i "$video_source" -f lavfi -i "$music_source" -f lavfi -i "$noise_source" \
  -filter_complex "[1:a][2:a]amix=inputs=2[audio]" -map 0:v -map "[audio]" \
  -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$sample"
echo "made $sample ($(wc -c <"$sample") bytes)"

step "2. Register a new user"
email="demo-$(openssl rand -hex 4)@example.com"
password="demo-$(openssl rand -hex 8)"
registration="{\"email\": \"$email\", \"password\": \"$password\"}"
show "curl -X POST -H 'Content-Type: application/json' -d '$registration' $gateway/register"
response=$(curl --silent --show-error --fail-with-body -X POST -H 'Content-Type: application/json' \
  -d "$registration" "$gateway/register") || fail "registration was refused: $response"
echo "$response"

step "3. Log in: the answer is a JWT, kept in \$T for the next requests"
show "T=\$(curl -s -X POST -u $email:$password $gateway/login)"
token=$(curl --silent --show-error --fail-with-body -X POST -u "$email:$password" "$gateway/login") ||
  fail "login was refused: $token"
echo "T=${token:0:32}... (${#token} characters)"

step "4. Upload the video"
show "curl -F file=@$sample -H \"Authorization: Bearer \$T\" $gateway/upload"
response=$(curl --silent --show-error --fail-with-body -F "file=@$sample" \
  -H "Authorization: Bearer $token" "$gateway/upload") || fail "the upload was refused: $response"
echo "$response"
job_id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])' <<<"$response") ||
  fail "the upload's answer has no job_id: $response"

step "5. Follow the job until it is done (at most ${job_timeout_seconds}s)"
show "curl -H \"Authorization: Bearer \$T\" $gateway/jobs/$job_id"
deadline=$((SECONDS + job_timeout_seconds))
last_progress=""
while true; do
  job=$(curl --silent --show-error --fail-with-body -H "Authorization: Bearer $token" \
    "$gateway/jobs/$job_id") || fail "reading the job failed: $job"
  progress=$(python3 -c 'import json, sys; job = json.load(sys.stdin); print(job["state"], str(job["progress"]) + "%")' <<<"$job") ||
    fail "unexpected answer for the job: $job"
  if [[ $progress != "$last_progress" ]]; then
    echo "$progress"
    last_progress=$progress
  fi
  case $progress in
    done*) break ;;
    failed*) fail "the job failed: $job" ;;
  esac
  ((SECONDS < deadline)) || fail "the job is still '$progress' after ${job_timeout_seconds}s: is the converter running?"
  sleep 1
done
echo "$job"

step "6. Read the email that says the MP3 is ready (at most ${mail_timeout_seconds}s)"
show "grep -l $email $mail_dir/*"
deadline=$((SECONDS + mail_timeout_seconds))
until mail_files=$(grep -l -F -- "$email" "$mail_dir"/* 2>/dev/null); do
  ((SECONDS < deadline)) ||
    fail "no email to $email in $mail_dir after ${mail_timeout_seconds}s (did \`make run\` send mail to another SMTP_HOST?)"
  sleep 1
done
mail_file=${mail_files%%$'\n'*}
echo "$mail_file:"
email_text=$(print_email "$mail_file")
echo "$email_text"
fid=$(sed -n '/^fid:/{s/^fid:[[:space:]]*\([^[:space:]]*\).*/\1/p;q}' <<<"$email_text")
[[ -n $fid ]] || fail "the email has no 'fid: <fid>' line"

step "7. Download the MP3 with the fid from the email"
show "curl -H \"Authorization: Bearer \$T\" -o $mp3 \"$gateway/download?fid=$fid\""
curl --silent --show-error --fail-with-body -H "Authorization: Bearer $token" -o "$mp3" \
  "$gateway/download?fid=$fid" || fail "the download was refused: $(cat "$mp3" 2>/dev/null)"

step "8. Look inside it"
show "ffprobe -hide_banner $mp3"
ffprobe -hide_banner "$mp3" 2>&1

echo
echo "The MP3 is at $mp3 (the video it came from is beside it)."
