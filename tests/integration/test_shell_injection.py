"""Hostile alert labels against compiled cli commands, run by real dash and real bash.

No doubles: every case compiles a command with shellsafe, renders the environment with
command_env, and runs `<shell> -c script` with that environment in a scratch directory,
for dash (what cli steps run, `subproc.SHELL`) and bash (Debian package bash). A hostile
value must never create the canary file, and `printf '%s'` of it must print the value
byte for byte. Template values that reach `$(( ))` (where bash evaluates `a[$(cmd)]` as
code) are refused when the command is compiled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cutman.core.shellsafe import command_env, compile_command
from cutman.core.templating import TemplateError
from cutman.subproc import SHELL
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

CANARY = "CANARY"
HOSTILE = [
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"; touch {CANARY}",
    f"&& touch {CANARY}",
    f"| touch {CANARY}",
    f"\ntouch {CANARY}\n",
    f"'; touch {CANARY}; '",
    f'"; touch {CANARY}; "',
    f"'\"$(touch {CANARY})\"'",
    f"\"'`touch {CANARY}`'\"",
    f"\\$(touch {CANARY})",
    f"${{IFS}}touch${{IFS}}{CANARY}",
    f"$(touch${{IFS}}{CANARY})",
    f"EOF\ntouch {CANARY}\nEOF",
    "})\ntouch " + CANARY + "\n",
    f"'$'\\ntouch {CANARY}\\n'",
    "--kubeconfig=/etc/x",
    "-n",
    "-e \\c",
    "$HOME",
    "${HOME}",
    "~",
    "~root",
    "*",
    "/*",
    "[a-z]*",
    "?",
    "EOF",
    "$((1+1))",
    "!!",
    "%s%d%n",
    "\\",
    "\\\\n",
    "a b\tc",
    "  padded  ",
    "",
    "\r\n\t",
    "line1\nline2\n",
    "é ✓ \u202e",
    "\x01\x1b[31m\x7f",
    f"a[$(touch {CANARY})]",
    f"x[`touch {CANARY}`]+1",
    f"1+a[$(touch {CANARY})]",
]

Expected = Callable[[str], str]
CONTEXTS: list[tuple[str, str, Expected]] = [
    ("unquoted", "printf '%s' {{ .v }}", lambda v: v),
    ("double quoted", "printf '%s' \"{{ .v }}\"", lambda v: v),
    ("single quoted", "printf '%s' '{{ .v }}'", lambda v: v),
    ("inside a word", "printf '%s' ={{ .v }}:", lambda v: f"={v}:"),
    ("mixed quoting", "printf '%s' a'b'\"c{{ .v }}d\"'e'", lambda v: f"abc{v}de"),
    ("single quotes around", "printf '%s' 'x{{ .v }}y'", lambda v: f"x{v}y"),
    ("two in one word", "printf '%s' {{ .v }}\"{{ .v }}\"'{{ .v }}'", lambda v: v * 3),
    ("assignment", "V={{ .v }}; printf '%s' \"$V\"", lambda v: v),
    ("command substitution", "printf '%s' \"$(printf '%s' {{ .v }})\"", lambda v: v.rstrip("\n")),
    (
        "nested substitution",
        "printf '%s' \"$(printf '%s' \"$(printf '%s' '{{ .v }}')\")\"",
        lambda v: v.rstrip("\n"),
    ),
    ("backticks", "printf '%s' \"`printf '%s' {{ .v }}`\"", lambda v: v.rstrip("\n")),
    (
        "quotes in backticks in quotes",
        "printf '%s' \"`printf '%s' \"{{ .v }}\"`\"",
        lambda v: v.rstrip("\n"),
    ),
    ("parameter default", "printf '%s' ${CM_UNSET:-{{ .v }}}", lambda v: v),
    ("quoted parameter default", "printf '%s' \"${CM_UNSET:-{{ .v }}}\"", lambda v: v),
    ("heredoc", "cat <<EOF\n{{ .v }}\nEOF", lambda v: v + "\n"),
    ("heredoc with tabs", "cat <<-EOF\n\t<{{ .v }}>\n\tEOF", lambda v: f"<{v}>\n"),
    (
        "heredoc in substitution",
        "printf '%s' \"$(cat <<EOF\n{{ .v }}\nEOF\n)\"",
        lambda v: v.rstrip("\n"),
    ),
    ("comment", "printf '%s' ok # {{ .v }}", lambda v: "ok"),
    ("for list", "for i in {{ .v }}; do printf '%s' \"$i\"; done", lambda v: v),
    ("case subject", "case {{ .v }} in *) printf '%s' matched;; esac", lambda v: "matched"),
    ("test", "[ {{ .v }} = '{{ .v }}' ] && printf same", lambda v: "same"),
    ("pipeline", "printf '%s' {{ .v }} | cat", lambda v: v),
    ("subshell", "(printf '%s' {{ .v }})", lambda v: v),
    ("sh -c positional", 'sh -c \'printf "%s" "$1"\' _ {{ .v }}', lambda v: v),
]
BASH = shutil.which("bash")
assert BASH is not None, "the bash corpus needs bash (Debian package bash)"
SHELLS = [SHELL, BASH]


def run(shell: str, command: str, value: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    compiled = compile_command(command)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd / "home")}
    env.update(command_env(compiled, {"v": value}))
    return subprocess.run(
        [shell, "-c", compiled.script],
        check=False,
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=10,
    )


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("name", "command", "expected"), CONTEXTS, ids=[c[0] for c in CONTEXTS])
def test_hostile_values_stay_data(
    shell: str, name: str, command: str, expected: Expected, tmp_path: Path
) -> None:
    for value in HOSTILE:
        result = run(shell, command, value, tmp_path)
        assert not (tmp_path / CANARY).exists(), (name, value, compile_command(command).script)
        assert result.returncode == 0, (name, value, result.stderr)
        assert result.stdout == expected(value).encode(), (name, value)


@pytest.mark.parametrize("shell", SHELLS)
def test_ansi_c_quotes(shell: str, tmp_path: Path) -> None:
    supported = run(shell, "printf '%s' $'x' {{ .v }}", "", tmp_path).stdout == b"x"
    for value in HOSTILE:
        result = run(shell, "printf '%s' $'a{{ .v }}b'", value, tmp_path)
        assert not (tmp_path / CANARY).exists(), value
        expected = f"a{value}b" if supported else f"$a{value}$b"
        assert result.stdout == expected.encode(), value


def test_option_injection_stays_one_argument(tmp_path: Path) -> None:
    result = run("/bin/sh", "printf '[%s]' {{ .v }} -- {{ .v }}", "--kubeconfig=/etc/x a", tmp_path)
    assert result.stdout == b"[--kubeconfig=/etc/x a][--][--kubeconfig=/etc/x a]"


def test_glob_and_tilde_do_not_expand(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("x")
    for value in ["*", "*.txt", "~", "$HOME/*"]:
        result = run("/bin/sh", "printf '[%s]' {{ .v }} \"{{ .v }}\"", value, tmp_path)
        assert result.stdout == f"[{value}][{value}]".encode()


ARITHMETIC = [
    "printf '%s' $(( {{ .v }} + 1 ))",
    "X={{ .v }}; printf '%s' $((X + 1))",
    "X=\"{{ .v }}\"; printf '%s' \"$(( $X ))\"",
    "export X={{ .v }}; printf '%s' $(( ${X} * 2 ))",
    "X=pre{{ .v }}; Y=1; printf '%s' $(( Y + X ))",
    "eval {{ .v }}",
    "eval \"printf '%s' {{ .v }}\"",
    "sh -c {{ .v }}",
    "bash -c \"{{ .v }}\"",
    "trap 'printf {{ .v }}' EXIT",
]


@pytest.mark.parametrize("command", ARITHMETIC)
def test_template_values_in_arithmetic_and_eval_are_refused(command: str) -> None:
    with pytest.raises(TemplateError, match=r"\$\(\( \)\)|as shell code|positional argument"):
        compile_command(command)


BEHIND_PREFIXES = [
    "command eval {{ .v }}",
    "builtin eval {{ .v }}",
    "command -p eval {{ .v }}",
    "exec {{ .v }}",
    "sh -c -- {{ .v }}",
    "sh -c -e {{ .v }}",
    "dash -c -o errexit {{ .v }}",
    "busybox sh -c {{ .v }}",
]


@pytest.mark.parametrize("command", BEHIND_PREFIXES)
def test_eval_and_shell_scripts_are_refused_behind_prefixes_and_options(command: str) -> None:
    """`command`/`builtin`/`exec` put the next word in command position again, and a
    shell's options after -c (`-e`, `-o errexit`, `--`) come before its script."""
    with pytest.raises(TemplateError, match=r"as shell code|positional argument|is a command name"):
        compile_command(command)


@pytest.mark.parametrize("shell", SHELLS)
def test_values_after_prefixes_and_in_positional_arguments_stay_data(shell: str, tmp_path: Path) -> None:
    commands = ["command -v printf >/dev/null && printf '%s' {{ .v }}", "exec printf '%s' {{ .v }}",
                "sh -c 'printf \"%s\" \"$1\"' _ {{ .v }}", "sh -c -e 'printf \"%s\" \"$0\"' {{ .v }}"]
    for command in commands:
        for value in HOSTILE:
            result = run(shell, command, value, tmp_path)
            assert not (tmp_path / CANARY).exists(), (shell, command, value)
            assert result.stdout == value.encode(), (shell, command, value)


@pytest.mark.parametrize("shell", SHELLS)
def test_the_suggested_number_check_is_safe_under_both_shells(shell: str, tmp_path: Path) -> None:
    command = "X={{ .v }}; N=$(printf %d \"$X\" 2>/dev/null) || exit 0; printf '%s' $((N + 1))"
    for value in HOSTILE:
        run(shell, command, value, tmp_path)
        assert not (tmp_path / CANARY).exists(), (shell, value)
    assert run(shell, command, "41", tmp_path).stdout == b"42"


def test_indirect_arithmetic_is_why_scripts_run_under_dash(tmp_path: Path) -> None:
    """A value copied to another variable first is not traced; dash never evaluates it.

    Under bash the same script runs the injected command, which is why cli steps name
    /bin/dash explicitly instead of trusting /bin/sh.
    """
    command = "X={{ .v }}; Y=$X; printf '%s' $((Y + 1))"
    value = f"a[$(touch {CANARY})]"
    dash = run(SHELL, command, value, tmp_path)
    assert not (tmp_path / CANARY).exists() and dash.returncode != 0
    assert b"Illegal number" in dash.stderr
    assert BASH is not None
    run(BASH, command, value, tmp_path)
    assert (tmp_path / CANARY).exists(), "bash evaluates a[$(...)] inside $(( ))"


FUZZ_SCRIPTS = [
    "printf '%s|' a 'b c' \"d $X\" $(printf e) `printf f`",
    'X=1; Y="${X:-z}"; printf \'%s\' "$Y" # done',
    "cat <<EOF\nline $X\nEOF\nprintf 'x'",
    'for i in 1 2; do printf \'%s\' "$i"; done; [ -n "a" ] && printf ok',
    "case a in a) printf '%s' \"$(printf in)\";; esac",
    'X=1; printf "%s" $((X + 2)) "${X#1}"',
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    script=st.sampled_from(FUZZ_SCRIPTS),
    position=st.integers(min_value=0, max_value=120),
    value=st.sampled_from(HOSTILE),
)
def test_fuzzed_positions_never_run_the_value(script: str, position: int, value: str) -> None:
    position = min(position, len(script))
    command = script[:position] + "{{ .v }}" + script[position:]
    try:
        compile_command(command)
    except TemplateError:
        assume(False)
    with tempfile.TemporaryDirectory() as scratch:
        for shell in SHELLS:
            run(shell, command, value, Path(scratch))
            assert not (Path(scratch) / CANARY).exists(), (shell, command, value)
