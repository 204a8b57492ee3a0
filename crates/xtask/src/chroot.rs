//! A cached Debian chroot for a toolchain the host's Debian does not package:
//! made once with `debootstrap` from the mirror the host's apt already uses,
//! kept outside the repository (`/var/cache/authstate/<name>`, or
//! `$AUTHSTATE_CHROOT_CACHE/<name>`), and reused by every later run.
//!
//! A chroot is made under `<name>.new` and renamed into place only after its
//! packages are installed, its check passed and its stamp (the recipe) is
//! written, so a half-made or outdated chroot is never used: it is deleted
//! and made again. An exclusive `flock` on `<name>.lock` guards the making,
//! a shared one each use, so parallel runs neither make it twice nor delete
//! it under each other.
//!
//! Every command in the chroot, the making included, runs in a private mount
//! namespace (`unshare --mount --propagation private`): `/proc`, `/dev` and
//! the bound host directories are mounted in that namespace only, so they are
//! gone when the command ends, however it ends (success, failure, Ctrl-C or
//! SIGKILL); nothing is left mounted in the host to unmount. Before a chroot
//! directory is deleted, any host mount found under it (from a manual
//! `chroot`, say) is unmounted, and the deletion is refused if one remains.

use std::env;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::on_path;

/// Overrides the directory that holds the cached chroots.
pub(crate) const CACHE_VAR: &str = "AUTHSTATE_CHROOT_CACHE";
/// Overrides the Debian mirror read from the host's apt sources.
pub(crate) const MIRROR_VAR: &str = "AUTHSTATE_DEBIAN_MIRROR";
/// The default home of the cached chroots.
const DEFAULT_CACHE: &str = "/var/cache/authstate";
/// The file inside a finished chroot that records the recipe it was made from.
const STAMP: &str = ".authstate-chroot";

/// What a chroot holds: a Debian suite with some packages, and a command
/// that must succeed in it before it counts as made.
pub(crate) struct Recipe {
    /// The directory name under the cache, e.g. `swift-trixie`.
    pub(crate) name: &'static str,
    /// The Debian suite, e.g. `trixie`.
    pub(crate) suite: &'static str,
    /// Installed with `apt-get install --no-install-recommends`.
    pub(crate) packages: &'static [&'static str],
    /// Run in the finished chroot (with `/proc` mounted); must succeed.
    pub(crate) check: &'static [&'static str],
    /// Bumped when the way a chroot is made changes, so old ones are remade.
    pub(crate) revision: u32,
}

impl Recipe {
    /// The stamp a chroot made from this recipe carries.
    fn stamp(&self) -> String {
        format!(
            "authstate chroot recipe {}\nsuite {}\nvariant minbase\npackages {}\n",
            self.revision,
            self.suite,
            self.packages.join(" ")
        )
    }
}

/// A finished chroot, held with a shared lock so no other run deletes or
/// remakes it while this one uses it.
pub(crate) struct Chroot {
    dir: PathBuf,
    _lock: File,
}

/// Why a chroot cannot be made on this machine at all; `None` when it can.
/// A machine that can make one but fails to is a failure, not this.
pub(crate) fn unavailable() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("a Debian chroot needs Linux".into());
    }
    if !Path::new("/etc/debian_version").is_file() {
        return Some("a Debian chroot needs a Debian host (no /etc/debian_version)".into());
    }
    if !is_root() {
        return Some("making and entering a chroot needs root".into());
    }
    for tool in ["unshare", "mount", "chroot"] {
        if find_tool(tool).is_none() {
            return Some(format!("{tool} not found (Debian util-linux, mount, coreutils)"));
        }
    }
    if find_tool("debootstrap").is_none() && !on_path("apt-get") {
        return Some("neither debootstrap nor apt-get found".into());
    }
    None
}

/// The finished chroot for `recipe`: the cached one when its stamp matches,
/// else a new one, made now. Prints what it does and how long it took.
pub(crate) fn provision(recipe: &Recipe) -> Result<Chroot, String> {
    let cache = env::var_os(CACHE_VAR).map_or_else(|| PathBuf::from(DEFAULT_CACHE), PathBuf::from);
    fs::create_dir_all(&cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    let dir = cache.join(recipe.name);
    let lock_path = cache.join(format!("{}.lock", recipe.name));
    let lock = File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;

    flock(&lock, Lock::Shared, &lock_path)?;
    if stamped(&dir, recipe) {
        println!("chroot: reusing {} ({})", dir.display(), recipe.suite);
        return Ok(Chroot { dir, _lock: lock });
    }
    flock(&lock, Lock::Exclusive, &lock_path)?;
    if !stamped(&dir, recipe) {
        make(recipe, &dir)?;
    }
    flock(&lock, Lock::Shared, &lock_path)?;
    Ok(Chroot { dir, _lock: lock })
}

/// Whether `dir` is a finished chroot made from `recipe`.
fn stamped(dir: &Path, recipe: &Recipe) -> bool {
    fs::read_to_string(dir.join(STAMP)).is_ok_and(|text| text == recipe.stamp())
}

/// Makes the chroot from scratch under `<dir>.new`, then renames it to `dir`.
fn make(recipe: &Recipe, dir: &Path) -> Result<(), String> {
    let started = Instant::now();
    let staging = dir.with_file_name(format!("{}.new", recipe.name));
    for old in [dir, staging.as_path()] {
        if old.exists() {
            println!("chroot: deleting {} (unfinished or from another recipe)", old.display());
            remove_tree(old)?;
        }
    }
    let debootstrap = ensure_debootstrap()?;
    let mirror = mirror()?;
    println!("chroot: making {} ({} from {mirror}, then {})", dir.display(), recipe.suite, recipe.packages.join(" "));

    let step = Instant::now();
    let target = staging.to_string_lossy().into_owned();
    let mut command = private_namespace();
    command.arg(&debootstrap).args(["--variant=minbase", recipe.suite, &target, &mirror]);
    run_quiet("debootstrap", command)?;
    println!("chroot: debootstrap took {:.0} s", step.elapsed().as_secs_f64());

    let step = Instant::now();
    let mut install = vec!["apt-get", "install", "-y", "-q", "--no-install-recommends"];
    install.extend(recipe.packages);
    for args in [&["apt-get", "update", "-q"][..], &install, &["apt-get", "clean"]] {
        let command = command_in(&staging, &[], Path::new("/"), &[("DEBIAN_FRONTEND", "noninteractive")], args);
        run_quiet(&args[..2].join(" "), command)?;
    }
    println!("chroot: installing {} took {:.0} s", recipe.packages.join(" "), step.elapsed().as_secs_f64());

    run_step(&recipe.check.join(" "), command_in(&staging, &[], Path::new("/"), &[], recipe.check))?;
    fs::write(staging.join(STAMP), recipe.stamp()).map_err(|e| format!("stamping {target}: {e}"))?;
    fs::rename(&staging, dir).map_err(|e| format!("renaming {target} to {}: {e}", dir.display()))?;
    println!("chroot: made {} in {:.0} s", dir.display(), started.elapsed().as_secs_f64());
    Ok(())
}

impl Chroot {
    /// The chroot's root directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command that runs `args` inside the chroot, in `workdir`, with a
    /// clean environment (`PATH`, `HOME`, `LANG` and `vars`), `/proc` and
    /// `/dev` mounted, and each of `binds` (absolute host directories)
    /// mounted at the same path inside; all in a private mount namespace, so
    /// the mounts end with the command.
    pub(crate) fn command(&self, binds: &[&Path], workdir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
        command_in(&self.dir, binds, workdir, vars, args)
    }
}

/// [`Chroot::command`] for the chroot at `root`, finished or not.
fn command_in(root: &Path, binds: &[&Path], workdir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
    // $1 the root, $2 the number of binds, then the binds, the working
    // directory and the `env` arguments.
    const SCRIPT: &str = r#"set -eu
root=$1; n=$2; shift 2
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
while [ "$n" -gt 0 ]; do
    mkdir -p "$root$1"
    mount --bind "$1" "$root$1"
    shift; n=$((n - 1))
done
dir=$1; shift
exec chroot "$root" /usr/bin/env -i -C "$dir" "$@""#;
    let mut command = private_namespace();
    command.args(["sh", "-c", SCRIPT, "sh"]).arg(root).arg(binds.len().to_string()).args(binds).arg(workdir);
    command.args(["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/root", "LANG=C.UTF-8"]);
    command.args(vars.iter().map(|(name, value)| format!("{name}={value}")));
    command.args(args);
    command
}

/// `unshare --mount --propagation private --`, ready for the command to run.
fn private_namespace() -> Command {
    let mut command = Command::new(find_tool("unshare").unwrap_or_else(|| "unshare".into()));
    command.args(["--mount", "--propagation", "private", "--"]);
    command
}

/// Runs one provisioning step, naming it and its exit status on failure.
fn run_step(what: &str, mut command: Command) -> Result<(), String> {
    println!("chroot: $ {what}");
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("making the chroot: `{what}` exited with {status}")),
        Err(e) => Err(format!("making the chroot: could not start `{what}`: {e}")),
    }
}

/// Runs one provisioning step with its output held back, printing the end
/// of it only when the step fails.
fn run_quiet(what: &str, mut command: Command) -> Result<(), String> {
    println!("chroot: $ {what}");
    let out = command.output().map_err(|e| format!("making the chroot: could not start `{what}`: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    for (name, bytes) in [("output", &out.stdout), ("errors", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<&str> = text.lines().collect();
        println!("chroot: the end of `{what}`'s {name}:");
        for line in &lines[lines.len().saturating_sub(15)..] {
            println!("    {line}");
        }
    }
    Err(format!("making the chroot: `{what}` exited with {}", out.status))
}

/// debootstrap's path; installs it with apt-get first when it is missing.
fn ensure_debootstrap() -> Result<PathBuf, String> {
    if let Some(path) = find_tool("debootstrap") {
        return Ok(path);
    }
    println!("chroot: installing debootstrap (apt-get)");
    for args in [&["update", "-qq"][..], &["install", "-y", "-qq", "debootstrap"]] {
        let mut command = Command::new("apt-get");
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run_step(&format!("apt-get {}", args.join(" ")), command)?;
    }
    find_tool("debootstrap").ok_or_else(|| "apt-get installed debootstrap, but it is not found".into())
}

/// The Debian mirror: `$AUTHSTATE_DEBIAN_MIRROR`, else the one the host's apt
/// sources use for the host's own suite.
fn mirror() -> Result<String, String> {
    if let Ok(mirror) = env::var(MIRROR_VAR) {
        return Ok(mirror);
    }
    let codename = fs::read_to_string("/etc/os-release").ok().and_then(|text| {
        text.lines().find_map(|l| l.strip_prefix("VERSION_CODENAME=")).map(|v| v.trim_matches('"').to_owned())
    });
    let mut sources = Vec::new();
    for path in ["/etc/apt/sources.list"].into_iter().map(PathBuf::from).chain(source_files()) {
        if let Ok(text) = fs::read_to_string(&path) {
            let deb822 = path.extension().is_some_and(|e| e == "sources");
            sources.extend(if deb822 { parse_deb822(&text) } else { parse_one_line(&text) });
        }
    }
    pick_mirror(&sources, codename.as_deref()).ok_or_else(|| {
        format!("no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/: set {MIRROR_VAR}")
    })
}

/// The `.list` and `.sources` files in `/etc/apt/sources.list.d`, sorted.
fn source_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir("/etc/apt/sources.list.d")
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"));
    files.sort();
    files
}

/// One `deb` source: a mirror URI and its suites.
#[derive(Debug, PartialEq)]
struct Source {
    uri: String,
    suites: Vec<String>,
}

/// The `deb` lines of a one-line-style sources list.
fn parse_one_line(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else { continue };
        let mut rest = rest.trim_start();
        if rest.starts_with('[') {
            rest = rest.split_once(']').map_or("", |(_, after)| after.trim_start());
        }
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            out.push(Source { uri: uri.to_owned(), suites: vec![suite.to_owned()] });
        }
    }
    out
}

/// The enabled `deb` stanzas of a deb822-style `.sources` file.
fn parse_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
                let (key, value) = l.split_once(':')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
            })
        };
        let types = field("Types").unwrap_or_default();
        if !types.split_whitespace().any(|t| t == "deb") || field("Enabled").is_some_and(|v| v == "no") {
            continue;
        }
        let suites: Vec<String> = field("Suites").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
        for uri in field("URIs").unwrap_or_default().split_whitespace() {
            out.push(Source { uri: uri.to_owned(), suites: suites.clone() });
        }
    }
    out
}

/// The mirror of the first source that serves the host's own suite
/// (`codename`), else of the first whose suites look like Debian's; only
/// schemes debootstrap reads (http, https, file).
fn pick_mirror(sources: &[Source], codename: Option<&str>) -> Option<String> {
    let usable: Vec<&Source> =
        sources.iter().filter(|s| ["http://", "https://", "file:"].iter().any(|p| s.uri.starts_with(p))).collect();
    let debian = ["bookworm", "trixie", "forky", "sid", "stable", "testing", "unstable"];
    let own = usable.iter().find(|s| codename.is_some_and(|c| s.suites.iter().any(|x| x == c)));
    let any = || usable.iter().find(|s| s.suites.iter().any(|x| debian.contains(&x.as_str())));
    own.or_else(any).map(|s| s.uri.trim_end_matches('/').to_owned())
}

/// Deletes a chroot directory that no command uses (the caller holds the
/// exclusive lock): unmounts any host mount under it first, and refuses
/// when one remains, so a bound workspace or `/dev` is never deleted through it.
fn remove_tree(dir: &Path) -> Result<(), String> {
    for point in mounts_under(dir).into_iter().rev() {
        match Command::new("umount").arg("--lazy").arg(&point).status() {
            Ok(status) if status.success() => println!("chroot: unmounted {}", point.display()),
            other => println!("chroot: could not unmount {}: {other:?}", point.display()),
        }
    }
    let left = mounts_under(dir);
    if !left.is_empty() {
        let left: Vec<String> = left.iter().map(|p| p.display().to_string()).collect();
        return Err(format!("not deleting {}: still mounted there: {}", dir.display(), left.join(", ")));
    }
    let status = Command::new("rm").arg("-rf").arg("--one-file-system").arg(dir).status();
    match status {
        Ok(s) if s.success() => Ok(()),
        other => Err(format!("deleting {}: {other:?}", dir.display())),
    }
}

/// The host's mount points at or under `dir`, outermost first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> =
        text.lines().filter_map(|line| line.split(' ').nth(4)).map(unescape).filter(|p| p.starts_with(dir)).collect();
    points.sort_by_key(|p| p.components().count());
    points
}

/// A mountinfo path with its octal escapes (`\040` for a space) decoded.
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// `name` on PATH, else in the sbin directories a non-login root PATH may lack.
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    let dirs = env::split_paths(&path).chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Whether this process runs as root (`/proc/self` is owned by the effective user).
fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

enum Lock {
    Shared,
    Exclusive,
}

/// Takes (or converts) an advisory `flock` on `file`, waiting for it and
/// saying so when another run holds it.
fn flock(file: &File, kind: Lock, path: &Path) -> Result<(), String> {
    const LOCK_SH: i32 = 1;
    const LOCK_EX: i32 = 2;
    const LOCK_NB: i32 = 4;
    unsafe extern "C" {
        fn flock(fd: i32, operation: i32) -> i32;
    }
    let op = match kind {
        Lock::Shared => LOCK_SH,
        Lock::Exclusive => LOCK_EX,
    };
    // SAFETY: flock(2) on a descriptor `file` owns for the whole call.
    if unsafe { flock(file.as_raw_fd(), op | LOCK_NB) } == 0 {
        return Ok(());
    }
    println!("chroot: waiting for another run that holds {}", path.display());
    // SAFETY: as above.
    if unsafe { flock(file.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(format!("locking {}: {}", path.display(), io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_is_the_one_serving_the_hosts_suite() {
        let one_line = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian/ bookworm main\n\
            deb-src http://src.invalid/debian bookworm main\ndeb https://other.invalid/x nodistro main\n";
        let deb822 = "Types: deb\n# http://old.invalid/archive\nURIs: http://m.invalid/debian\nSuites: bookworm bookworm-updates\n\
            Components: main\n\nTypes: deb\nURIs: http://m.invalid/debian-security\nSuites: bookworm-security\n\n\
            Types: deb\nEnabled: no\nURIs: http://off.invalid/debian\nSuites: bookworm\n";
        let lines = parse_one_line(one_line);
        assert_eq!(lines[0], Source { uri: "http://mirror.invalid/debian/".into(), suites: vec!["bookworm".into()] });
        assert_eq!(lines.len(), 2);
        let stanzas = parse_deb822(deb822);
        assert_eq!(stanzas.len(), 2, "{stanzas:?}");
        assert_eq!(pick_mirror(&stanzas, Some("bookworm")).as_deref(), Some("http://m.invalid/debian"));
        assert_eq!(pick_mirror(&lines, Some("bookworm")).as_deref(), Some("http://mirror.invalid/debian"));
        let security_first: Vec<Source> = stanzas.into_iter().rev().collect();
        assert_eq!(pick_mirror(&security_first, Some("bookworm")).as_deref(), Some("http://m.invalid/debian"));
        assert_eq!(pick_mirror(&lines, None).as_deref(), Some("http://mirror.invalid/debian"));
        assert_eq!(pick_mirror(&parse_one_line("deb cdrom:[x]/ bookworm main\n"), Some("bookworm")), None);
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape(r"/var/cache/a\040b/dev"), PathBuf::from("/var/cache/a b/dev"));
        assert_eq!(unescape(r"/x\\y\0"), PathBuf::from(r"/x\\y\0"));
    }

    #[test]
    fn a_recipe_change_changes_the_stamp() {
        let recipe = |revision| Recipe { name: "t", suite: "trixie", packages: &["a"], check: &["true"], revision };
        assert_ne!(recipe(1).stamp(), recipe(2).stamp());
        assert!(recipe(1).stamp().contains("packages a\n"));
    }
}
