//! Compiles MITRE ATT&CK Enterprise (the `enterprise-attack` directory of
//! mitre/cti, one STIX object per file) into the table Watchfloor ships:
//!
//! ```sh
//! cargo run -p watchfloor-intel --example compile_attack -- \
//!     $WATCHFLOOR_CORPUS/intel/attack/enterprise-attack > crates/intel/data/attack-enterprise.tsv
//! ```

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: compile_attack ENTERPRISE_ATTACK_DIR > attack-enterprise.tsv");
        std::process::exit(2);
    };
    match watchfloor_intel::attack::compile(std::path::Path::new(&dir)) {
        Ok(table) => print!("{table}"),
        Err(e) => {
            eprintln!("compile_attack: {e}");
            std::process::exit(1);
        }
    }
}
