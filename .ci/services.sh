#!/usr/bin/env bash
# Starts each local service the tests use when it is not answering, then waits until it answers.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 1 60); do
    port_open "$port" && return 0
    sleep 1
  done
  echo "service $name did not come up on port $port" >&2
  return 1
}

if ! port_open 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! port_open 6379; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! port_open 5672; then
  rabbitmq-server -detached
fi
if ! port_open 1883; then
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
if ! port_open 4222; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi

status=0
wait_port postgresql 5432 || status=1
wait_port redis 6379 || status=1
wait_port rabbitmq 5672 || status=1
wait_port mosquitto 1883 || status=1
wait_port nats 4222 || status=1
exit $status
