//! Container runtime sockets and the host paths that reach them.
//!
//! A hostPath reaches a socket when it is the socket or one of its ancestors: mounting `/var/run` hands over
//! every socket under it. Paths are compared after normalisation (`//` and `/./` collapsed, `..` resolved, a
//! trailing `/` dropped, `/var/run` read as `/run`), since the kernel resolves all of those the same way.

/// Where runtimes put their sockets, after normalisation.
pub const RUNTIME_SOCKETS: &[&str] = &[
    "/run/containerd/containerd.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/run/docker.sock",
    "/run/cri-dockerd.sock",
    "/run/dockershim.sock",
    "/run/podman/podman.sock",
    "/var/lib/kubelet/pod-resources/kubelet.sock",
];

/// The normal form of an absolute path.
pub fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.first() == Some(&"var") && parts.get(1) == Some(&"run") {
        parts.remove(0);
    }
    format!("/{}", parts.join("/"))
}

/// The runtime socket a host path reaches, if any.
pub fn reached_socket(host_path: &str) -> Option<&'static str> {
    let path = normalise(host_path);
    RUNTIME_SOCKETS.iter().copied().find(|socket| {
        // `/var` holds `/var/run`, which is `/run`.
        let var_reaches_run = path == "/var" && socket.starts_with("/run/");
        *socket == path || path == "/" || var_reaches_run || socket.starts_with(&format!("{path}/"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_and_ancestors_of_a_socket_reach_it() {
        assert_eq!(
            reached_socket("/var/run/docker.sock"),
            Some("/run/docker.sock")
        );
        assert_eq!(
            reached_socket("/var/run//docker.sock"),
            Some("/run/docker.sock")
        );
        assert_eq!(
            reached_socket("/run/./containerd/containerd.sock/"),
            Some("/run/containerd/containerd.sock")
        );
        assert!(reached_socket("/var/run").is_some());
        assert!(reached_socket("/run/containerd").is_some());
        assert!(reached_socket("/").is_some());
        assert!(reached_socket("/var").is_some());
        assert!(reached_socket("/var/lib/../run/crio/crio.sock").is_some());
        assert_eq!(reached_socket("/var/log"), None);
        assert_eq!(reached_socket("/run/containerd-other"), None);
        assert_eq!(reached_socket("/etc/ssl/certs"), None);
    }
}
