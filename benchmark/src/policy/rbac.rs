//! RBAC resolved to what each binding grants: roles (with aggregation and the built-in bootstrap roles),
//! bindings, their subjects, and whether a rule allows a request.
//!
//! A rule matches when the API group, the resource (or `resource/subresource`, `*/sub`, `resource/*`) and the
//! verb are listed or `*`. A rule with `resourceNames` is scoped: it cannot list or watch everything, and the
//! checks that ask about broad access count it apart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use super::json::{Interner, Json};
use super::objects::{Inventory, Object, array, text};
use super::selectors::selects;
use crate::cluster_report::Source;

/// One rule of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strings(value: &Json, key: &str) -> Vec<String> {
    array(value, &[key])
        .iter()
        .filter_map(Json::as_str)
        .map(str::to_owned)
        .collect()
}

impl PolicyRule {
    pub fn from_value(value: &Json) -> PolicyRule {
        PolicyRule {
            api_groups: strings(value, "apiGroups"),
            resources: strings(value, "resources"),
            verbs: strings(value, "verbs"),
            resource_names: strings(value, "resourceNames"),
            non_resource_urls: strings(value, "nonResourceURLs"),
        }
    }

    /// Whether the rule allows `verb` on `resource` (`pods` or `pods/exec`) in `group`.
    pub fn allows(&self, group: &str, resource: &str, verb: &str) -> bool {
        let listed =
            |list: &[String], wanted: &str| list.iter().any(|item| item == "*" || item == wanted);
        // `*/sub` and `main/*` are compared piecewise: this runs for every rule of every binding.
        let (main, sub) = resource.split_once('/').unzip();
        let resource_listed = self.resources.iter().any(|item| {
            item == "*"
                || item == resource
                || match (item.split_once('/'), main, sub) {
                    (Some(("*", item_sub)), Some(_), Some(sub)) => {
                        item_sub == sub || item_sub == "*"
                    }
                    (Some((item_main, "*")), Some(main), Some(_)) => item_main == main,
                    _ => false,
                }
        });
        listed(&self.api_groups, group) && resource_listed && listed(&self.verbs, verb)
    }

    /// `*` on every group, resource and verb: what cluster-admin holds.
    pub fn is_full_wildcard(&self) -> bool {
        let star = |list: &[String]| list.iter().any(|item| item == "*");
        star(&self.api_groups) && star(&self.resources) && star(&self.verbs)
    }

    pub fn describe(&self) -> String {
        let mut text = format!(
            "verbs [{}] on [{}] in groups [{}]",
            self.verbs.join(", "),
            self.resources.join(", "),
            self.api_groups
                .iter()
                .map(|group| if group.is_empty() { "\"\"" } else { group })
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !self.resource_names.is_empty() {
            text.push_str(&format!(" named [{}]", self.resource_names.join(", ")));
        }
        text
    }
}

/// A request pattern a check asks about: any of these groups, resources and verbs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

impl Permission {
    pub fn describe(&self) -> String {
        format!("{} on {}", self.verbs.join("/"), self.resources.join(", "))
    }
}

/// How a rule meets a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    None,
    /// Only on objects named by `resourceNames`.
    Scoped,
    Full,
}

impl PolicyRule {
    pub fn reach(&self, permission: &Permission) -> Reach {
        let allowed = permission.api_groups.iter().any(|group| {
            permission.resources.iter().any(|resource| {
                permission
                    .verbs
                    .iter()
                    .any(|verb| self.allows(group, resource, verb))
            })
        });
        match (allowed, self.resource_names.is_empty()) {
            (false, _) => Reach::None,
            (true, true) => Reach::Full,
            (true, false) => Reach::Scoped,
        }
    }
}

/// A subject of a binding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subject {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

impl Subject {
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(namespace) if self.kind == "ServiceAccount" => {
                format!("ServiceAccount {namespace}/{}", self.name)
            }
            _ => format!("{} {}", self.kind, self.name),
        }
    }

    /// Whether a ServiceAccount is this subject, directly or through one of its implicit groups.
    pub fn covers_service_account(&self, namespace: &str, name: &str) -> bool {
        match self.kind.as_str() {
            "ServiceAccount" => self.name == name && self.namespace.as_deref() == Some(namespace),
            // Compared piecewise: this runs for every workload against every binding.
            "Group" => {
                self.name == "system:serviceaccounts"
                    || self.name == "system:authenticated"
                    || self.name.strip_prefix("system:serviceaccounts:") == Some(namespace)
            }
            "User" => {
                self.name
                    .strip_prefix("system:serviceaccount:")
                    .and_then(|rest| rest.strip_prefix(namespace))
                    .and_then(|rest| rest.strip_prefix(':'))
                    == Some(name)
            }
            _ => false,
        }
    }
}

/// What a binding's role resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleRules {
    Found {
        rules: Vec<PolicyRule>,
        builtin: bool,
    },
    /// The role is not in the manifest set and is not built in: what it grants is unknown.
    Unknown,
    /// The live cluster has no such role: the binding grants nothing.
    Missing,
}

#[derive(Debug, Clone)]
pub struct Binding<'a> {
    pub object: &'a Object,
    pub role_kind: String,
    pub role_name: String,
    pub subjects: Vec<Subject>,
    pub rules: RoleRules,
}

impl Binding<'_> {
    pub fn role_display(&self) -> String {
        format!("{} {}", self.role_kind, self.role_name)
    }
}

/// The resolved RBAC of an inventory.
#[derive(Debug, Clone)]
pub struct Rbac<'a> {
    pub bindings: Vec<Binding<'a>>,
    cluster_roles: BTreeMap<String, (Vec<PolicyRule>, bool)>,
}

/// The built-in roles shipped as data.
fn bootstrap_roles() -> &'static [Object] {
    static ROLES: OnceLock<Vec<Object>> = OnceLock::new();
    ROLES.get_or_init(|| {
        let stream =
            crate::yaml11::read_stream(include_str!("../../catalog/rbac/bootstrap-roles.yaml"));
        let mut interner = Interner::default();
        stream
            .documents
            .into_iter()
            .flat_map(|document| match document.value.get("items") {
                Some(serde_json::Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            })
            .filter_map(|item| Object::read(item, None, &mut interner).ok())
            .collect()
    })
}

/// How many rounds of aggregation are followed (roles aggregating roles that aggregate).
const AGGREGATION_ROUNDS: usize = 8;

impl<'a> Rbac<'a> {
    pub fn resolve(inventory: &'a Inventory) -> Rbac<'a> {
        let live: Vec<&Object> = inventory.of_kind("ClusterRole").collect();
        let live_names: BTreeSet<&str> = live.iter().map(|role| role.name.as_str()).collect();
        // The shipped built-ins fill in what the inventory lacks: always for manifests, and for a live cluster
        // whose ClusterRoles could not be listed.
        let builtins: Vec<&Object> = bootstrap_roles()
            .iter()
            .filter(|role| !live_names.contains(role.name.as_str()))
            .collect();
        let all: Vec<(&Object, bool)> = live
            .iter()
            .map(|role| (*role, false))
            .chain(builtins.iter().map(|role| (*role, true)))
            .collect();
        let own_rules = |role: &Object| -> Vec<PolicyRule> {
            array(&role.body, &["rules"])
                .iter()
                .map(PolicyRule::from_value)
                .collect()
        };
        let mut cluster_roles: BTreeMap<String, (Vec<PolicyRule>, bool)> = all
            .iter()
            .map(|(role, builtin)| (role.name.to_string(), (own_rules(role), *builtin)))
            .collect();
        // A live aggregated role already holds the rules the controller filled in; the others are computed
        // from the roles their selectors pick, until nothing changes.
        let aggregated: Vec<(&Object, Vec<&Json>)> = all
            .iter()
            .filter(|(role, builtin)| {
                *builtin
                    || inventory.source == Source::Manifests
                    || array(&role.body, &["rules"]).is_empty()
            })
            .filter_map(|(role, _)| {
                let selectors: Vec<&Json> =
                    array(&role.body, &["aggregationRule", "clusterRoleSelectors"])
                        .iter()
                        .collect();
                (!selectors.is_empty()).then_some((*role, selectors))
            })
            .collect();
        for _ in 0..AGGREGATION_ROUNDS {
            let mut changed = false;
            for (role, selectors) in &aggregated {
                let mut gathered: Vec<PolicyRule> = Vec::new();
                for (candidate, _) in &all {
                    if candidate.name == role.name {
                        continue;
                    }
                    let labels = candidate
                        .body
                        .get("metadata")
                        .and_then(|metadata| metadata.get("labels"))
                        .unwrap_or(&Json::Null);
                    if selectors.iter().any(|selector| selects(selector, labels))
                        && let Some((rules, _)) = cluster_roles.get(candidate.name.as_str())
                    {
                        gathered.extend(rules.iter().cloned());
                    }
                }
                if let Some((rules, _)) = cluster_roles.get_mut(role.name.as_str()) {
                    for rule in gathered {
                        if !rules.contains(&rule) {
                            rules.push(rule);
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let roles: BTreeMap<(Option<&str>, &str), Vec<PolicyRule>> = inventory
            .of_kind("Role")
            .map(|role| ((role.namespace(), role.name.as_str()), own_rules(role)))
            .collect();
        let bindings = inventory
            .of_kind("RoleBinding")
            .chain(inventory.of_kind("ClusterRoleBinding"))
            .map(|object| {
                let role_kind = text(&object.body, &["roleRef", "kind"])
                    .unwrap_or("")
                    .to_owned();
                let role_name = text(&object.body, &["roleRef", "name"])
                    .unwrap_or("")
                    .to_owned();
                let rules = match role_kind.as_str() {
                    "ClusterRole" => match cluster_roles.get(&role_name) {
                        Some((rules, builtin)) => RoleRules::Found {
                            rules: rules.clone(),
                            builtin: *builtin,
                        },
                        None => absent(inventory, "ClusterRole"),
                    },
                    "Role" => match roles.get(&(object.namespace(), role_name.as_str())) {
                        Some(rules) => RoleRules::Found {
                            rules: rules.clone(),
                            builtin: false,
                        },
                        None => absent(inventory, "Role"),
                    },
                    _ => RoleRules::Missing,
                };
                let subjects = array(&object.body, &["subjects"])
                    .iter()
                    .filter_map(|subject| {
                        Some(Subject {
                            kind: text(subject, &["kind"])?.to_owned(),
                            name: text(subject, &["name"])?.to_owned(),
                            namespace: text(subject, &["namespace"]).map(str::to_owned).or_else(
                                || {
                                    // A RoleBinding's ServiceAccount subject defaults to the binding's namespace.
                                    (text(subject, &["kind"]) == Some("ServiceAccount"))
                                        .then(|| object.namespace().map(str::to_owned))
                                        .flatten()
                                },
                            ),
                        })
                    })
                    .collect();
                Binding {
                    object,
                    role_kind,
                    role_name,
                    subjects,
                    rules,
                }
            })
            .collect();
        Rbac {
            bindings,
            cluster_roles,
        }
    }

    /// The rules of a ClusterRole by name, built-in or from the inventory.
    pub fn cluster_role(&self, name: &str) -> Option<&[PolicyRule]> {
        self.cluster_roles
            .get(name)
            .map(|(rules, _)| rules.as_slice())
    }
}

fn absent(inventory: &Inventory, kind: &str) -> RoleRules {
    if inventory.knows_all(kind) {
        RoleRules::Missing
    } else {
        RoleRules::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `serde_json::json!`, read into the checks' tree.
    macro_rules! json {
        ($($body:tt)+) => {
            Json::from(serde_json::json!($($body)+))
        };
    }

    fn rule(value: Json) -> PolicyRule {
        PolicyRule::from_value(&value)
    }

    #[test]
    fn subresources_match_through_their_wildcards() {
        let exec = rule(json!({"apiGroups": [""], "resources": ["pods/*"], "verbs": ["create"]}));
        assert!(exec.allows("", "pods/exec", "create"));
        assert!(!exec.allows("", "pods", "create"));
        let scale =
            rule(json!({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}));
        assert!(scale.allows("apps", "deployments/scale", "update"));
        let mixed =
            rule(json!({"apiGroups": ["*"], "resources": ["secrets"], "verbs": ["get", "*"]}));
        assert!(mixed.allows("", "secrets", "list"));
    }

    #[test]
    fn resource_names_make_a_rule_scoped() {
        let permission = Permission {
            api_groups: vec![String::new()],
            resources: vec!["secrets".to_owned()],
            verbs: vec!["get".to_owned(), "list".to_owned(), "watch".to_owned()],
        };
        let named = rule(
            json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["tls"], "verbs": ["get"]}),
        );
        assert_eq!(named.reach(&permission), Reach::Scoped);
        let broad = rule(json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}));
        assert_eq!(broad.reach(&permission), Reach::Full);
    }

    #[test]
    fn the_built_in_edit_role_is_aggregated_and_reads_secrets_while_view_does_not() {
        let inventory = Inventory::new(Source::Manifests, Vec::new());
        let rbac = Rbac::resolve(&inventory);
        let reads_secrets = |name: &str| {
            rbac.cluster_role(name)
                .unwrap()
                .iter()
                .any(|rule| rule.allows("", "secrets", "list"))
        };
        assert!(reads_secrets("edit"));
        assert!(reads_secrets("admin"));
        assert!(!reads_secrets("view"));
        assert!(rbac.cluster_role("cluster-admin").unwrap()[0].is_full_wildcard());
    }
}
