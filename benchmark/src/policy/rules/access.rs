//! Rules over RBAC and service accounts. A finding is about a binding (what it grants, to whom) or a role
//! (what it allows), so that it names an object an auditor can open and a ticket can follow; the subjects
//! and the rule that decided are the evidence.

use crate::cluster_report::{ObjectEvidence, Source};
use crate::policy::json::Json;
use crate::policy::objects::{array, field, flag};
use crate::policy::rbac::{Binding, Permission, PolicyRule, Reach, RoleRules};
use crate::policy::workload::Workload;
use crate::policy::{Outcome, Scene, Target, Verdict, evidence};
use crate::text::Text;

fn subjects_text(binding: &Binding<'_>) -> String {
    binding
        .subjects
        .iter()
        .map(|subject| subject.describe())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A verdict per binding from what its role's rules allow.
fn judge_bindings(
    scene: &Scene<'_>,
    judge: impl Fn(&Binding<'_>, &[PolicyRule]) -> Vec<ObjectEvidence>,
) -> Vec<Verdict> {
    scene
        .rbac
        .bindings
        .iter()
        .map(|binding| {
            let target = Target::of(binding.object);
            if binding.subjects.is_empty() {
                return Verdict::pass(target);
            }
            match &binding.rules {
                RoleRules::Found { rules, .. } => {
                    Verdict::from_evidence(target, judge(binding, rules))
                }
                RoleRules::Missing => Verdict::pass(target),
                RoleRules::Unknown => Verdict::unknown(
                    target,
                    format!(
                        "{} is neither in the manifest set nor a built-in role",
                        binding.role_display()
                    ),
                ),
            }
        })
        .collect()
}

/// What a binding's rules grant of these permissions, one piece of evidence per permission granted.
fn granted(
    binding: &Binding<'_>,
    rules: &[PolicyRule],
    permissions: &[Permission],
) -> Vec<ObjectEvidence> {
    permissions
        .iter()
        .filter_map(|permission| {
            let rule = rules
                .iter()
                .find(|rule| rule.reach(permission) == Reach::Full)?;
            Some(evidence(
                format!("subjects {}", subjects_text(binding)),
                Some("roleRef".to_owned()),
                format!("{} allows {}", binding.role_display(), rule.describe()),
                format!("no {}", permission.describe()),
            ))
        })
        .collect()
}

pub fn grants(
    scene: &Scene<'_>,
    permissions: &[Permission],
    indirect: &[Permission],
) -> Vec<Verdict> {
    let verdicts = judge_bindings(scene, |binding, rules| granted(binding, rules, permissions));
    if indirect.is_empty() {
        return verdicts;
    }
    // `judge_bindings` gives one verdict per binding, in order.
    verdicts
        .into_iter()
        .zip(&scene.rbac.bindings)
        .map(|(verdict, binding)| {
            if verdict.outcome != Outcome::Pass {
                return verdict;
            }
            // A binding that passed the direct test may still start pods through a controller.
            let RoleRules::Found { rules, .. } = &binding.rules else {
                return verdict;
            };
            let found = if binding.subjects.is_empty() {
                Vec::new()
            } else {
                granted(binding, rules, indirect)
            };
            if found.is_empty() {
                return verdict;
            }
            Verdict {
                outcome: Outcome::Advisory,
                evidence: found,
                detail: Some(Text::from(
                    "creates pods indirectly, through the controllers it may create",
                )),
                ..verdict
            }
        })
        .collect()
}

pub fn cluster_admin_bindings(scene: &Scene<'_>) -> Vec<Verdict> {
    judge_bindings(scene, |binding, rules| {
        let equivalent = binding.role_name == "cluster-admin" && binding.role_kind == "ClusterRole"
            || rules.iter().any(PolicyRule::is_full_wildcard);
        if !equivalent {
            return Vec::new();
        }
        let scope = if binding.object.kind == "RoleBinding" {
            " (namespace scope)"
        } else {
            ""
        };
        let everyone = binding.subjects.iter().any(|s| {
            s.kind == "Group"
                && matches!(
                    s.name.as_str(),
                    "system:authenticated" | "system:unauthenticated"
                )
        });
        vec![evidence(
            format!("subjects {}", subjects_text(binding)),
            Some("roleRef".to_owned()),
            format!(
                "{} grants every verb on every resource{scope}{}",
                binding.role_display(),
                if everyone {
                    " to every user (critical)"
                } else {
                    ""
                }
            ),
            "cluster-admin only where an administrator needs it",
        )]
    })
}

pub fn wildcard_roles(scene: &Scene<'_>) -> Vec<Verdict> {
    let bound = |object: &crate::policy::Object| {
        scene.rbac.bindings.iter().any(|binding| {
            binding.role_kind == object.kind
                && binding.role_name == object.name
                && (object.kind == "ClusterRole" || binding.object.namespace == object.namespace)
        })
    };
    scene
        .inventory
        .of_kind("Role")
        .chain(scene.inventory.of_kind("ClusterRole"))
        .map(|role| {
            let live_aggregate = role.kind == "ClusterRole"
                && scene.inventory.source == Source::Api
                && field(&role.body, &["aggregationRule"]).is_some();
            let mut found = Vec::new();
            if !live_aggregate {
                for (index, rule) in array(&role.body, &["rules"]).iter().enumerate() {
                    let rule = PolicyRule::from_value(rule);
                    let star_in = |list: &[String]| {
                        list.iter().any(|item| {
                            item == "*" || item.starts_with("*/") || item.ends_with("/*")
                        })
                    };
                    let wildcard_resources =
                        star_in(&rule.resources) || rule.verbs.iter().any(|verb| verb == "*");
                    let groups_only =
                        !wildcard_resources && rule.api_groups.iter().any(|group| group == "*");
                    if wildcard_resources || groups_only {
                        found.push(evidence(
                            format!(
                                "rule {index}{}",
                                if bound(role) { "" } else { " (role not bound)" }
                            ),
                            Some(format!("rules[{index}]")),
                            format!(
                                "{}{}",
                                rule.describe(),
                                if groups_only {
                                    " (wildcard in apiGroups only: lower severity)"
                                } else {
                                    ""
                                }
                            ),
                            "explicit verbs and resources",
                        ));
                    }
                }
            }
            Verdict::from_evidence(Target::of(role), found)
        })
        .collect()
}

/// Bindings whose subjects include one of `groups`, except to the roles in `allowed_roles`.
pub fn group_bindings(scene: &Scene<'_>, groups: &[&str], allowed_roles: &[&str]) -> Vec<Verdict> {
    scene
        .rbac
        .bindings
        .iter()
        .map(|binding| {
            let found = binding
                .subjects
                .iter()
                .enumerate()
                .filter(|(_, subject)| {
                    (subject.kind == "Group" || subject.kind == "User")
                        && groups.contains(&subject.name.as_str())
                })
                .filter(|_| {
                    !(binding.role_kind == "ClusterRole"
                        && allowed_roles.contains(&binding.role_name.as_str()))
                })
                .map(|(index, subject)| {
                    evidence(
                        subject.describe(),
                        Some(format!("subjects[{index}]")),
                        format!("bound to {}", binding.role_display()),
                        format!("no binding for {}", groups.join(" or ")),
                    )
                })
                .collect();
            Verdict::from_evidence(Target::of(binding.object), found)
        })
        .collect()
}

/// Whether a pod gets a service-account token, and from where that was read. `None`: unknown, with the
/// missing fact.
fn mounted_token(
    scene: &Scene<'_>,
    workload: &Workload<'_>,
) -> Result<Option<(String, String)>, String> {
    let projected = array(workload.spec, &["volumes"])
        .iter()
        .enumerate()
        .find_map(|(index, volume)| {
            array(volume, &["projected", "sources"])
                .iter()
                .any(|source| source.get("serviceAccountToken").is_some())
                .then(|| {
                    (
                        workload.path(&format!("volumes[{index}].projected")),
                        "a projected serviceAccountToken volume".to_owned(),
                    )
                })
        });
    if projected.is_some() {
        return Ok(projected);
    }
    match flag(workload.spec, &["automountServiceAccountToken"]) {
        Some(true) => {
            return Ok(Some((
                workload.path("automountServiceAccountToken"),
                "true".to_owned(),
            )));
        }
        Some(false) => return Ok(None),
        None => {}
    }
    let account = workload.service_account();
    let namespace = workload.object.namespace();
    let found = scene.inventory.find("ServiceAccount", namespace, account);
    match found {
        Some(sa) if flag(&sa.body, &["automountServiceAccountToken"]) == Some(false) => Ok(None),
        Some(_) => Ok(Some((
            workload.path("automountServiceAccountToken"),
            format!("unset, and ServiceAccount {account} does not disable automount"),
        ))),
        None if scene.inventory.knows_all("ServiceAccount") => Ok(Some((
            workload.path("automountServiceAccountToken"),
            format!("unset (ServiceAccount {account} not found)"),
        ))),
        None => Err(format!(
            "automountServiceAccountToken is unset and ServiceAccount {account} is outside the manifest set"
        )),
    }
}

pub fn token_mounted(scene: &Scene<'_>) -> Vec<Verdict> {
    scene
        .pods()
        .map(|workload| {
            let target = Target::of(workload.object);
            match mounted_token(scene, workload) {
                Ok(Some((path, observed))) => Verdict::from_evidence(
                    target,
                    vec![evidence(
                        format!("pods of ServiceAccount {}", workload.service_account()),
                        Some(path),
                        observed,
                        "no token unless the pods call the API (automountServiceAccountToken: false)",
                    )],
                ),
                Ok(None) => Verdict::pass(target),
                Err(missing) => Verdict::unknown(target, missing),
            }
        })
        .collect()
}

/// What makes a service account powerful enough to matter when its token sits in a pod.
fn powerful_rules(rules: &[PolicyRule]) -> Option<String> {
    if let Some(rule) = rules.iter().find(|rule| rule.is_full_wildcard()) {
        return Some(format!("cluster-admin equivalent ({})", rule.describe()));
    }
    let secrets = Permission {
        api_groups: vec![String::new()],
        resources: vec!["secrets".to_owned()],
        verbs: vec!["get".to_owned(), "list".to_owned(), "watch".to_owned()],
    };
    rules
        .iter()
        .find(|rule| rule.reach(&secrets) == Reach::Full)
        .map(|rule| format!("reads Secrets ({})", rule.describe()))
}

pub fn admin_service_account(scene: &Scene<'_>) -> Vec<Verdict> {
    // The bindings that hand out power, with why: few, and found once rather than once per workload.
    let powerful: Vec<(&Binding<'_>, String)> = scene
        .rbac
        .bindings
        .iter()
        .filter_map(|binding| match &binding.rules {
            RoleRules::Found { rules, .. } => powerful_rules(rules).map(|why| {
                let via = format!("{why} via {} {}", binding.object.kind, binding.object.name);
                (binding, via)
            }),
            _ => None,
        })
        .collect();
    scene
        .pods()
        .map(|workload| {
            let target = Target::of(workload.object);
            let Some(namespace) = workload.object.namespace() else {
                return Verdict::unknown(
                    target,
                    "the namespace is chosen at deploy time (give --namespace)",
                );
            };
            let account = workload.service_account();
            let power = powerful.iter().find_map(|(binding, via)| {
                let applies = binding.object.kind == "ClusterRoleBinding"
                    || binding.object.namespace() == Some(namespace);
                let covers = binding
                    .subjects
                    .iter()
                    .any(|s| s.covers_service_account(namespace, account));
                (applies && covers).then(|| via.clone())
            });
            let Some(power) = power else {
                return Verdict::pass(target);
            };
            match mounted_token(scene, workload) {
                Ok(Some((path, _))) => Verdict::from_evidence(
                    target,
                    vec![evidence(
                        format!("ServiceAccount {namespace}/{account}"),
                        Some(path),
                        format!("token mounted; {power}"),
                        "no powerful token in the pods",
                    )],
                ),
                Ok(None) => Verdict::pass(target),
                Err(missing) => Verdict::unknown(target, missing),
            }
        })
        .collect()
}

pub fn default_service_account(scene: &Scene<'_>) -> Vec<Verdict> {
    let mut verdicts: Vec<Verdict> = scene
        .inventory
        .of_kind("ServiceAccount")
        .filter(|sa| sa.name == "default")
        .map(|sa| {
            let found = match sa
                .body
                .get("automountServiceAccountToken")
                .and_then(Json::as_bool)
            {
                Some(false) => Vec::new(),
                other => vec![evidence(
                    "default ServiceAccount",
                    Some("automountServiceAccountToken".to_owned()),
                    other.map_or("unset".to_owned(), |value| value.to_string()),
                    "false",
                )],
            };
            Verdict::from_evidence(Target::of(sa), found)
        })
        .collect();
    for binding in &scene.rbac.bindings {
        let defaults: Vec<String> = binding
            .subjects
            .iter()
            .filter(|subject| subject.kind == "ServiceAccount" && subject.name == "default")
            .map(|subject| subject.describe())
            .collect();
        let target = Target::of(binding.object);
        if defaults.is_empty() {
            continue;
        }
        verdicts.push(Verdict {
            target,
            outcome: Outcome::Fail,
            evidence: vec![evidence(
                format!("subjects {}", defaults.join(", ")),
                Some("subjects".to_owned()),
                format!("granted {}", binding.role_display()),
                "no rights for a default ServiceAccount",
            )],
            detail: None,
        });
    }
    verdicts
}
