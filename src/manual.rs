//! `connbench completions SHELL` and `connbench man`: generated from the clap definitions of `cli`, so they
//! can never drift from the flags the binary takes.

use std::io::{self, Write};

use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell, out: &mut impl Write) -> io::Result<()> {
    clap_complete::generate(shell, &mut Cli::command(), "connbench", out);
    Ok(())
}

/// The man page of `connbench` and of each subcommand, one after the other in one roff document.
pub fn man(out: &mut impl Write) -> io::Result<()> {
    let command = Cli::command();
    clap_mangen::Man::new(command.clone()).render(out)?;
    for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
        let sub = sub.clone().display_name(format!("connbench-{}", sub.get_name()));
        clap_mangen::Man::new(sub).render(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_the_man_page_name_every_subcommand_and_flag() {
        let mut bash = Vec::new();
        completions(clap_complete::Shell::Bash, &mut bash).unwrap();
        let bash = String::from_utf8(bash).unwrap();
        for word in ["run", "probe", "--source-ip", "--max-regression", "keepalive"] {
            assert!(bash.contains(word), "bash completion lacks {word}");
        }
        let mut page = Vec::new();
        man(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH connbench"), "{}", &page[..200]);
        for word in ["connbench\\-run", "connbench\\-probe", "source\\-ip", "One connection at a time"] {
            assert!(page.contains(word), "the man page lacks {word}");
        }
    }
}
