#!/usr/bin/env bash
# CI's sample of the services that go away (tests/fault/services.sh, where the cases and checks
# are described): each service stopped in the middle of `ltb up` and of `ltb down`, and
# restarted under a running lab, then the simulated host reboot. `make fault` runs every case
# (stopped and restarted, in up, in down and under a running lab).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../fault/services.sh" --cases "${FAULT_SERVICE_CASES:-docker-up-stop,docker-down-stop,docker-running-restart,ovs-up-stop,ovs-running-restart,vswitchd-down-stop,libvirt-up-stop,libvirt-down-stop,libvirt-running-restart,reboot}"
