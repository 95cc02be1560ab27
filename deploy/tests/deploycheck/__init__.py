"""Checks of the deployment files (deploy/) that the real tools do not make, one module per
kind of file: dockerfile, compose, kubernetes (with custom_resources for the Prometheus
Operator's resources), prometheusrule and systemd. deploy/tests/check_deploy.py is their
command line; common holds what they share."""
