//! The families of a batch: a folder scan or a TSV manifest (see the
//! [batch documentation](crate::batch)), and the shards that split them.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Result;

use super::outputs;
use crate::alignment::EXTENSIONS as ALIGNMENT_EXTENSIONS;
use crate::error::input_error;
use crate::structure::EXTENSIONS as STRUCTURE_EXTENSIONS;

/// One family to predict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// Position in the full family list (0-based); shards split on it.
    pub index: usize,
    /// Family name: the name of its output folder.
    pub name: String,
    /// Alignment file (`None` when [`Family::problem`] says why).
    pub msa: Option<PathBuf>,
    /// Structure file, if any.
    pub structure: Option<PathBuf>,
    /// Chain of the structure (`None` = first chain with amino acids).
    pub chain: Option<String>,
    /// A list of native contacts (`i j` per line, as `fadca simulate`
    /// writes it), scored against when there is no structure.
    pub contacts: Option<PathBuf>,
    /// An input problem found while listing the family; it fails without running.
    pub problem: Option<String>,
}

/// Lists the families of a folder or a manifest (see the
/// [batch documentation](crate::batch)).
pub fn read_families(path: &Path) -> Result<Vec<Family>> {
    if path.is_dir() {
        scan_folder(path)
    } else if path.is_file() {
        read_manifest(path)
    } else {
        Err(input_error(format!(
            "families {}: no such folder or manifest file",
            path.display()
        )))
    }
}

/// Checks that a family name can be a folder of the batch output.
fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(format!(
            "family name {name:?} must be a plain folder name (not empty, no '/')"
        ));
    }
    if name.starts_with('.') {
        return Err(format!("family name {name:?} must not start with '.'"));
    }
    if [
        outputs::SUMMARY_TSV,
        outputs::SUMMARY_JSON,
        outputs::SUMMARY_PNG,
    ]
    .contains(&name)
    {
        return Err(format!(
            "family name {name:?} is reserved for the batch summary"
        ));
    }
    Ok(())
}

/// The file name without `.gz` split into (stem, lowercase extension).
fn split_name(path: &Path) -> Option<(String, String)> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    let name = if lower.ends_with(".gz") {
        &name[..name.len() - 3]
    } else {
        name
    };
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty()).then(|| (stem.to_string(), ext.to_ascii_lowercase()))
}

/// Picks one file among `candidates` (see the [batch documentation](crate::batch)).
fn pick(
    mut candidates: Vec<PathBuf>,
    family: &str,
    generic: &str,
    what: &str,
    dir: &Path,
) -> std::result::Result<Option<PathBuf>, String> {
    if candidates.len() <= 1 {
        return Ok(candidates.pop());
    }
    let stem_is = |p: &PathBuf, s: &str| split_name(p).is_some_and(|(stem, _)| stem == s);
    for preferred in [family, generic] {
        let named: Vec<&PathBuf> = candidates
            .iter()
            .filter(|p| stem_is(p, preferred))
            .collect();
        if named.len() == 1 {
            return Ok(Some(named[0].clone()));
        }
    }
    let names: Vec<String> = candidates
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    Err(format!(
        "family folder {}: several {what} files ({}); keep one, or name the one to use {family}.<ext> or {generic}.<ext>",
        dir.display(),
        names.join(", ")
    ))
}

/// Lists the families of a folder: one per non-hidden subfolder.
pub fn scan_folder(dir: &Path) -> Result<Vec<Family>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| input_error(format!("families folder {}: {e}", dir.display())))?;
    let mut folders = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| input_error(format!("families folder {}: {e}", dir.display())))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(input_error(format!(
                "families folder {}: {:?} is not a UTF-8 name",
                dir.display(),
                entry.file_name()
            )));
        };
        if name.starts_with('.') || !path.is_dir() {
            continue;
        }
        folders.push((name, path));
    }
    folders.sort();
    let mut families = Vec::with_capacity(folders.len());
    for (index, (name, path)) in folders.into_iter().enumerate() {
        let mut family = Family {
            index,
            name: name.clone(),
            msa: None,
            structure: None,
            chain: None,
            contacts: None,
            problem: None,
        };
        match folder_files(&name, &path) {
            Ok((msa, structure)) => {
                family.msa = Some(msa);
                let list = path.join(NATIVE_CONTACTS);
                if structure.is_none() && list.is_file() {
                    family.contacts = Some(list);
                }
                family.structure = structure;
            }
            Err(problem) => family.problem = Some(problem),
        }
        if let Err(problem) = check_name(&name) {
            family.problem = Some(problem);
        }
        families.push(family);
    }
    Ok(families)
}

/// The file of a family folder that lists its native contacts (what
/// `fadca simulate` writes), used when the folder has no structure.
pub const NATIVE_CONTACTS: &str = "contacts.tsv";

/// The alignment and optional structure of one family folder.
fn folder_files(name: &str, dir: &Path) -> std::result::Result<(PathBuf, Option<PathBuf>), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    let of_kind = |exts: &[&str]| -> Vec<PathBuf> {
        files
            .iter()
            .filter(|p| split_name(p).is_some_and(|(_, ext)| exts.contains(&ext.as_str())))
            .cloned()
            .collect()
    };
    let msa = pick(
        of_kind(&ALIGNMENT_EXTENSIONS),
        name,
        "msa",
        "alignment",
        dir,
    )?;
    let structure = pick(
        of_kind(&STRUCTURE_EXTENSIONS),
        name,
        "structure",
        "structure",
        dir,
    )?;
    let msa = msa.ok_or_else(|| {
        format!(
            "family folder {}: no alignment file (*.{}, optionally .gz)",
            dir.display(),
            ALIGNMENT_EXTENSIONS.join(", *.")
        )
    })?;
    Ok((msa, structure))
}

/// Reads a TSV manifest (see the [batch documentation](crate::batch)).
pub fn read_manifest(path: &Path) -> Result<Vec<Family>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| input_error(format!("manifest {}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new(""));
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(input_error(format!(
            "manifest {}: empty (expected a header with the columns name and msa)",
            path.display()
        )));
    };
    let columns: Vec<&str> = header.split('\t').map(str::trim).collect();
    let column = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (Some(name_col), Some(msa_col)) = (column("name"), column("msa")) else {
        return Err(input_error(format!(
            "manifest {}, line {header_line}: the header must name the columns name and msa (tab-separated); found {:?}",
            path.display(),
            columns
        )));
    };
    let (structure_col, chain_col) = (column("structure"), column("chain"));
    let contacts_col = column("contacts");
    let mut families: Vec<Family> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line_no, line) in lines {
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        let field = |col: Option<usize>| {
            col.and_then(|c| fields.get(c).copied())
                .filter(|f| !f.is_empty())
        };
        let at = || format!("manifest {}, line {line_no}", path.display());
        let name = field(Some(name_col))
            .ok_or_else(|| input_error(format!("{}: the name is empty", at())))?;
        check_name(name).map_err(|e| input_error(format!("{}: {e}", at())))?;
        if let Some(first) = seen.insert(name.to_string(), line_no) {
            return Err(input_error(format!(
                "{}: family {name:?} is already on line {first}",
                at()
            )));
        }
        let msa = field(Some(msa_col))
            .ok_or_else(|| input_error(format!("{}: the msa of {name:?} is empty", at())))?;
        families.push(Family {
            index: families.len(),
            name: name.to_string(),
            msa: Some(resolve(msa)),
            structure: field(structure_col).map(resolve),
            chain: field(chain_col).map(str::to_string),
            contacts: field(contacts_col).map(resolve),
            problem: None,
        });
    }
    Ok(families)
}

/// Shard `K/N` of a batch: the families whose index `i` (0-based, in list
/// order) has `i mod N == K − 1`. The N shards are disjoint and cover every
/// family; `K` is 1-based like a Slurm array task id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=N.
    pub k: usize,
    /// Number of shards.
    pub n: usize,
}

impl Shard {
    /// True when family `index` belongs to this shard.
    pub fn contains(&self, index: usize) -> bool {
        index % self.n == self.k - 1
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("shard {s:?}: expected K/N with 1 <= K <= N, e.g. 2/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover() {
        let n = 3;
        let shards: Vec<Shard> = (1..=n)
            .map(|k| format!("{k}/{n}").parse().unwrap())
            .collect();
        for i in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.contains(i)).count(), 1);
        }
        assert!(shards[0].contains(0) && shards[0].contains(3));
        assert!(shards[2].contains(2) && !shards[2].contains(3));
        for bad in ["0/3", "4/3", "1/0", "a/3", "3", "1/3/4", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/8".parse::<Shard>().unwrap().to_string(), "2/8");
    }

    #[test]
    fn picking_among_several_files() {
        let dir = Path::new("fam");
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(pick(vec![], "fam", "msa", "alignment", dir), Ok(None));
        assert_eq!(
            pick(vec![p("x.fa")], "fam", "msa", "alignment", dir),
            Ok(Some(p("x.fa")))
        );
        assert_eq!(
            pick(
                vec![p("a.fa"), p("fam.a3m.gz"), p("msa.sto")],
                "fam",
                "msa",
                "alignment",
                dir
            ),
            Ok(Some(p("fam.a3m.gz")))
        );
        assert_eq!(
            pick(
                vec![p("a.fa"), p("msa.sto")],
                "fam",
                "msa",
                "alignment",
                dir
            ),
            Ok(Some(p("msa.sto")))
        );
        let err = pick(vec![p("a.fa"), p("b.fa")], "fam", "msa", "alignment", dir).unwrap_err();
        assert!(err.contains("a.fa, b.fa"), "{err}");
    }

    #[test]
    fn names_split_without_gz() {
        assert_eq!(
            split_name(Path::new("d/PF1.A3M.gz")),
            Some(("PF1".into(), "a3m".into()))
        );
        assert_eq!(split_name(Path::new("noext")), None);
        assert_eq!(split_name(Path::new(".fa")), None);
    }
}
