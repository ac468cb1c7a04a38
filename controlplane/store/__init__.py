"""Cluster state in etcd."""
