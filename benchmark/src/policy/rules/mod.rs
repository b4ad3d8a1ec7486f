//! The rules the catalogs name, one function each, grouped by what they read. Each returns one verdict per
//! object it evaluated; objects it does not apply to are simply not evaluated.

mod access;
pub(crate) mod namespaces;
mod pods;
mod services;

use serde::Deserialize;

use super::catalog::{PssLevel, RuleSpec};
use super::{Scene, Verdict};

/// Every rule a catalog may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleName {
    Privileged,
    HostPid,
    HostIpc,
    HostNetwork,
    PrivilegeEscalation,
    RootContainers,
    NetRaw,
    Capabilities,
    WindowsHostProcess,
    HostPath,
    HostPorts,
    SecretsInEnv,
    Seccomp,
    ReadonlyRootFilesystem,
    RuntimeSocket,
    ImagePinning,
    ResourceLimits,
    LinuxHardening,
    TokenMounted,
    AdminServiceAccount,
    RollingUpdate,
    ServiceNodePort,
    ServiceLoadBalancer,
    ServiceExternalIps,
    PodSecurityControl,
    PodSecurityLevel,
    NetworkPolicyPresent,
    NetworkDefaultDeny,
    NetworkDefaultDenyEgress,
    NetworkPolicyCoverage,
    DefaultNamespace,
    LimitRange,
    ResourceQuota,
    DefaultServiceAccount,
    CniNetworkPolicy,
    ClusterAdminBindings,
    WildcardRoles,
    SystemMasters,
    AnonymousBindings,
    AuthenticatedBindings,
}

pub fn run(rule: &RuleSpec, scene: &Scene<'_>) -> Vec<Verdict> {
    let name = match rule {
        RuleSpec::Grants { grants, indirect } => return access::grants(scene, grants, indirect),
        RuleSpec::Named(name) => *name,
    };
    match name {
        RuleName::Privileged => pods::privileged(scene),
        RuleName::HostPid => pods::host_namespace(scene, "hostPID"),
        RuleName::HostIpc => pods::host_namespace(scene, "hostIPC"),
        RuleName::HostNetwork => pods::host_namespace(scene, "hostNetwork"),
        RuleName::PrivilegeEscalation => pods::privilege_escalation(scene),
        RuleName::RootContainers => pods::root_containers(scene),
        RuleName::NetRaw => pods::net_raw(scene),
        RuleName::Capabilities => pods::capabilities(scene),
        RuleName::WindowsHostProcess => pods::windows_host_process(scene),
        RuleName::HostPath => pods::host_path(scene),
        RuleName::HostPorts => pods::host_ports(scene),
        RuleName::SecretsInEnv => pods::secrets_in_env(scene),
        RuleName::Seccomp => pods::seccomp(scene),
        RuleName::ReadonlyRootFilesystem => pods::readonly_root_filesystem(scene),
        RuleName::RuntimeSocket => pods::runtime_socket(scene),
        RuleName::ImagePinning => pods::image_pinning(scene),
        RuleName::ResourceLimits => pods::resource_limits(scene),
        RuleName::LinuxHardening => pods::linux_hardening(scene),
        RuleName::TokenMounted => access::token_mounted(scene),
        RuleName::AdminServiceAccount => access::admin_service_account(scene),
        RuleName::RollingUpdate => pods::rolling_update(scene),
        RuleName::ServiceNodePort => services::node_port(scene),
        RuleName::ServiceLoadBalancer => services::load_balancer(scene),
        RuleName::ServiceExternalIps => services::external_ips(scene),
        RuleName::PodSecurityControl => namespaces::pod_security(scene, false),
        RuleName::PodSecurityLevel => namespaces::pod_security(scene, true),
        RuleName::NetworkPolicyPresent => namespaces::network_policy_present(scene),
        RuleName::NetworkDefaultDeny => {
            namespaces::network_default_deny(scene, namespaces::Direction::Ingress)
        }
        RuleName::NetworkDefaultDenyEgress => {
            namespaces::network_default_deny(scene, namespaces::Direction::Egress)
        }
        RuleName::NetworkPolicyCoverage => namespaces::network_policy_coverage(scene),
        RuleName::DefaultNamespace => namespaces::default_namespace(scene),
        RuleName::LimitRange => namespaces::has_kind(scene, "LimitRange"),
        RuleName::ResourceQuota => namespaces::has_kind(scene, "ResourceQuota"),
        RuleName::DefaultServiceAccount => access::default_service_account(scene),
        RuleName::CniNetworkPolicy => namespaces::cni_network_policy(scene),
        RuleName::ClusterAdminBindings => access::cluster_admin_bindings(scene),
        RuleName::WildcardRoles => access::wildcard_roles(scene),
        RuleName::SystemMasters => access::group_bindings(scene, &["system:masters"], &[]),
        RuleName::AnonymousBindings => access::group_bindings(
            scene,
            &["system:anonymous", "system:unauthenticated"],
            &["system:public-info-viewer"],
        ),
        RuleName::AuthenticatedBindings => access::group_bindings(
            scene,
            &["system:authenticated"],
            &[
                "system:basic-user",
                "system:discovery",
                "system:public-info-viewer",
            ],
        ),
    }
}

/// The policy part of a Pod Security Standards check: each user namespace, by the level its admission enforces.
pub fn admission_part(scene: &Scene<'_>, forbidden_from: PssLevel) -> Vec<Verdict> {
    namespaces::admission_forbids(scene, forbidden_from)
}
