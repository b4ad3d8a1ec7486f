//! Rules over Services: what they expose outside the cluster.
//!
//! Whether a load balancer is internal is read from the annotations each cloud's controller honours, from
//! `loadBalancerSourceRanges`, and from the address the controller gave it. The annotations are data
//! (`catalog/services/internal-load-balancers.yaml`), since their spelling varies by controller.

use std::net::IpAddr;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::policy::json::Json;
use crate::policy::objects::{array, text};
use crate::policy::{Scene, Target, Verdict, evidence};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InternalMarkers {
    annotations: Vec<AnnotationMarker>,
    hostname_prefixes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnotationMarker {
    name: String,
    /// Compared case-insensitively.
    values: Vec<String>,
}

fn markers() -> Option<&'static InternalMarkers> {
    static MARKERS: OnceLock<Option<InternalMarkers>> = OnceLock::new();
    MARKERS
        .get_or_init(|| {
            serde_yaml_ng::from_str(include_str!(
                "../../../catalog/services/internal-load-balancers.yaml"
            ))
            .ok()
        })
        .as_ref()
}

fn services<'a>(
    scene: &'a Scene<'_>,
    of_type: &'a str,
) -> impl Iterator<Item = &'a crate::policy::Object> + 'a {
    scene
        .inventory
        .of_kind("Service")
        .filter(move |service| text(&service.body, &["spec", "type"]) == Some(of_type))
}

pub fn node_port(scene: &Scene<'_>) -> Vec<Verdict> {
    scene
        .inventory
        .of_kind("Service")
        .map(|service| {
            let found = if text(&service.body, &["spec", "type"]) == Some("NodePort") {
                let ports: Vec<String> = array(&service.body, &["spec", "ports"])
                    .iter()
                    .filter_map(|port| port.get("nodePort").map(Json::to_string))
                    .collect();
                vec![evidence(
                    "service",
                    Some("spec.type".to_owned()),
                    if ports.is_empty() {
                        "NodePort".to_owned()
                    } else {
                        format!("NodePort (node ports {})", ports.join(", "))
                    },
                    "ClusterIP, or an internal load balancer",
                )]
            } else {
                Vec::new()
            };
            Verdict::from_evidence(Target::of(service), found)
        })
        .collect()
}

/// Why a LoadBalancer Service counts as internal, if it does.
fn internal_reason(service: &Json) -> Option<String> {
    let annotations = service.get("metadata").and_then(|m| m.get("annotations"));
    if let Some(markers) = markers() {
        for marker in &markers.annotations {
            let value = annotations.and_then(|a| a.get(&marker.name)).and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_bool().map(|b| b.to_string()))
            });
            if let Some(value) = value
                && marker
                    .values
                    .iter()
                    .any(|wanted| wanted.eq_ignore_ascii_case(&value))
            {
                return Some(format!("annotation {}: {value}", marker.name));
            }
        }
    }
    let ranges: Vec<&str> = array(service, &["spec", "loadBalancerSourceRanges"])
        .iter()
        .filter_map(Json::as_str)
        .collect();
    if !ranges.is_empty()
        && !ranges
            .iter()
            .any(|range| matches!(range.trim(), "0.0.0.0/0" | "::/0"))
    {
        return Some(format!("source ranges {}", ranges.join(", ")));
    }
    let ingress = array(service, &["status", "loadBalancer", "ingress"]);
    let private = |entry: &Json| {
        let ip_private = text(entry, &["ip"])
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .is_some_and(|ip| match ip {
                IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
                IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00 || v6.is_loopback(),
            });
        let host_private = text(entry, &["hostname"]).is_some_and(|host| {
            markers().is_some_and(|m| {
                m.hostname_prefixes
                    .iter()
                    .any(|prefix| host.starts_with(prefix.as_str()))
            })
        });
        ip_private || host_private
    };
    if !ingress.is_empty() && ingress.iter().all(private) {
        return Some("the load balancer's addresses are private".to_owned());
    }
    None
}

pub fn load_balancer(scene: &Scene<'_>) -> Vec<Verdict> {
    services(scene, "LoadBalancer")
        .map(|service| {
            let target = Target::of(service);
            match internal_reason(&service.body) {
                Some(_) => Verdict::pass(target),
                None => {
                    let mut found = vec![evidence(
                        "service",
                        Some("spec.type".to_owned()),
                        "LoadBalancer with no internal annotation, no source ranges and no private address",
                        "an internal load balancer, or loadBalancerSourceRanges without 0.0.0.0/0",
                    )];
                    let allocates = service
                        .body
                        .get("spec")
                        .and_then(|spec| spec.get("allocateLoadBalancerNodePorts"))
                        .and_then(Json::as_bool)
                        != Some(false);
                    if allocates {
                        found.push(evidence(
                            "service",
                            Some("spec.allocateLoadBalancerNodePorts".to_owned()),
                            "node ports allocated too",
                            "false, when the load balancer reaches pods directly",
                        ));
                    }
                    Verdict::from_evidence(target, found)
                }
            }
        })
        .collect()
}

pub fn external_ips(scene: &Scene<'_>) -> Vec<Verdict> {
    scene
        .inventory
        .of_kind("Service")
        .map(|service| {
            let addresses: Vec<&str> = array(&service.body, &["spec", "externalIPs"])
                .iter()
                .filter_map(Json::as_str)
                .collect();
            let found = if addresses.is_empty() {
                Vec::new()
            } else {
                vec![evidence(
                    "service",
                    Some("spec.externalIPs".to_owned()),
                    addresses.join(", "),
                    "no externalIPs",
                )]
            };
            Verdict::from_evidence(Target::of(service), found)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_internal_load_balancer_markers_load() {
        // A typo in the data would otherwise make every load balancer look public.
        let markers = markers().unwrap();
        assert!(markers.annotations.len() >= 5);
        assert!(
            internal_reason(&Json::from(serde_json::json!({"metadata": {"annotations":
            {"networking.gke.io/load-balancer-type": "Internal"}}})))
            .is_some()
        );
    }
}
