//! Naming file owners through the host's own `/etc/passwd` and `/etc/group`, never the agent container's.

use std::collections::HashMap;

use crate::host::HostFs;

/// The host's user and group names by numeric id.
#[derive(Debug, Default)]
pub struct Accounts {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Accounts {
    /// Reads the host's account files; a missing or unreadable file leaves its ids unnamed.
    pub fn load(host: &HostFs) -> Self {
        let read = |path: &str| {
            host.read(path)
                .map(|bytes| parse_id_file(&String::from_utf8_lossy(&bytes)))
                .unwrap_or_else(|err| {
                    tracing::warn!(path, error = %err, "cannot read the host's account file; owners stay numeric");
                    HashMap::new()
                })
        };
        Accounts {
            users: read("/etc/passwd"),
            groups: read("/etc/group"),
        }
    }

    pub fn user(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(String::as_str)
    }

    pub fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }
}

/// Parses `name:password:id:...` lines; the first name for an id wins, as with getpwuid.
fn parse_id_file(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>()
            && !name.is_empty()
        {
            names.entry(id).or_insert_with(|| name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_name_for_an_id_wins_and_junk_is_skipped() {
        let names = parse_id_file(
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\ntoor:x:0:0::/:/bin/sh\netcd:x:4242:4242::/:/sbin/nologin\nbad:x:notanumber:1\n",
        );
        assert_eq!(names.get(&0).map(String::as_str), Some("root"));
        assert_eq!(names.get(&4242).map(String::as_str), Some("etcd"));
        assert_eq!(names.len(), 2);
    }
}
