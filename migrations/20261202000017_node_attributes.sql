-- Two facts of a node report the cluster checks need (CIS 5.2.8 and the namespace defaults of 5.2.x): the
-- runtime the kubelet talks to, and on API server nodes the Pod Security level enforced on namespaces without
-- a label. Kept from each node's newest scan, like its roles.
ALTER TABLE nodes
    ADD COLUMN container_runtime TEXT CHECK (length(container_runtime) <= 200),
    ADD COLUMN pod_security_enforce TEXT CHECK (pod_security_enforce IN ('privileged', 'baseline', 'restricted')),
    ADD COLUMN pod_security_source TEXT CHECK (length(pod_security_source) <= 4096);
