"""Template expressions in shell commands become quoted environment variable references."""

from __future__ import annotations

import pytest
from cutman.core.shellsafe import (
    MAX_ENV_STRING_BYTES,
    CompiledCommand,
    command_env,
    compile_command,
)
from cutman.core.templating import TemplateError
from hypothesis import assume, given
from hypothesis import strategies as st

T0, T1 = '"${CM_T0}"', '"${CM_T1}"'


@pytest.mark.parametrize(
    ("command", "script"),
    [
        # outside quotes
        ("kubectl logs {{ .alert.labels.pod }}", f"kubectl logs {T0}"),
        ("kubectl logs {{ .p }} -n {{ .n }}", f"kubectl logs {T0} -n {T1}"),
        ("echo pre{{ .p }}post", f"echo pre{T0}post"),
        ("echo --name={{ .p }}", f"echo --name={T0}"),
        ("echo {{ .p }}{{ .q }}", f"echo {T0}{T1}"),
        ("echo {{ .p }} | grep {{ .q }}", f"echo {T0} | grep {T1}"),
        ("(cd /tmp && ls {{ .p }})", f"(cd /tmp && ls {T0})"),
        ("for p in {{ .p }}; do echo $p; done", f"for p in {T0}; do echo $p; done"),
        ("case {{ .p }} in\n a) echo {{ .q }};;\nesac", f"case {T0} in\n a) echo {T1};;\nesac"),
        ("if [ {{ .p }} = a ]; then echo {{ .q }}; fi", f"if [ {T0} = a ]; then echo {T1}; fi"),
        ("kubectl logs \\\n  {{ .p }}", f"kubectl logs \\\n  {T0}"),
        ("echo $$ {{ .p }}", f"echo $$ {T0}"),
        ("echo $((1 + 2)) {{ .p }}", f"echo $((1 + 2)) {T0}"),
        ("echo a#{{ .p }}", f"echo a#{T0}"),
        ("echo $# {{ .p }}", f"echo $# {T0}"),
        ('echo \\"{{ .p }}', f'echo \\"{T0}'),
        ("echo \\'{{ .p }}", f"echo \\'{T0}"),
        # assignments and redirections are not command names
        ("POD={{ .p }}", f"POD={T0}"),
        ("POD={{ .p }} NS={{ .q }} kubectl get pod", f"POD={T0} NS={T1} kubectl get pod"),
        ("echo x > {{ .p }}", f"echo x > {T0}"),
        ("echo x >>{{ .p }}", f"echo x >>{T0}"),
        ("> {{ .p }} echo x", f"> {T0} echo x"),
        ("cmd 2>&1 {{ .p }}", f"cmd 2>&1 {T0}"),
        ("cmd &> {{ .p }}", f"cmd &> {T0}"),
        ("cat <<< {{ .p }}", f"cat <<< {T0}"),
        # double quotes
        ('echo "pod={{ .p }}."', 'echo "pod=${CM_T0}."'),
        ('echo "a\\"{{ .p }}"', 'echo "a\\"${CM_T0}"'),
        ('echo "it\'s {{ .p }}"', 'echo "it\'s ${CM_T0}"'),
        ("echo \"{{ .p }}\"'{{ .q }}'", "echo \"${CM_T0}\"''\"${CM_T1}\"''"),
        # single quotes: close, insert, reopen
        ("echo 'pod={{ .p }}.'", "echo 'pod='\"${CM_T0}\"'.'"),
        ("echo '{{ .p }}'", "echo ''\"${CM_T0}\"''"),
        ("echo 'a\\' {{ .p }}", f"echo 'a\\' {T0}"),
        ("echo '\"' {{ .p }}", f"echo '\"' {T0}"),
        ("echo $'a\\'{{ .p }}b'", "echo $'a\\''\"${CM_T0}\"$'b'"),
        # command substitution nests the quoting state
        ("echo $(basename {{ .p }})", f"echo $(basename {T0})"),
        ('echo "$(basename {{ .p }})"', f'echo "$(basename {T0})"'),
        ('echo "$(echo "x{{ .p }}" | tr a b)"', 'echo "$(echo "x${CM_T0}" | tr a b)"'),
        ("echo \"$(echo '{{ .p }}')\"", "echo \"$(echo ''\"${CM_T0}\"'')\""),
        ("echo $(echo $(echo {{ .p }}))", f"echo $(echo $(echo {T0}))"),
        ("echo $( (echo x) ) {{ .p }}", f"echo $( (echo x) ) {T0}"),
        ("echo `basename {{ .p }}`", f"echo `basename {T0}`"),
        ('echo "`basename {{ .p }}`"', f'echo "`basename {T0}`"'),
        ("echo `echo '{{ .p }}'`", "echo `echo ''\"${CM_T0}\"''`"),
        # parameter expansion
        ("echo ${NS:-{{ .p }}}", f"echo ${{NS:-{T0}}}"),
        ('echo "${NS:-{{ .p }}}"', 'echo "${NS:-${CM_T0}}"'),
        ("echo ${NS#{{ .p }}}", f"echo ${{NS#{T0}}}"),
        # comments
        ("ls # {{ .p }}", "ls # ${CM_T0}"),
        ("# {{ .p }}\necho {{ .q }}", f"# ${{CM_T0}}\necho {T1}"),
        ("echo 'not # a comment' {{ .p }}", f"echo 'not # a comment' {T0}"),
        # heredocs with unquoted delimiters expand; quotes are literal there
        ("cat <<EOF\n{{ .p }}\nEOF\n", "cat <<EOF\n${CM_T0}\nEOF\n"),
        ('cat <<EOF\nit\'s "{{ .p }}"\nEOF', 'cat <<EOF\nit\'s "${CM_T0}"\nEOF'),
        (
            "cat <<-EOF\n\t{{ .p }}\n\tEOF\necho {{ .q }}",
            f"cat <<-EOF\n\t${{CM_T0}}\n\tEOF\necho {T1}",
        ),
        ("cat <<EOF\nx\nEOF\necho {{ .p }}", f"cat <<EOF\nx\nEOF\necho {T0}"),
        (
            "cat <<A; cat <<B\n{{ .p }}\nA\n{{ .q }}\nB\n",
            "cat <<A; cat <<B\n${CM_T0}\nA\n${CM_T1}\nB\n",
        ),
        ("cat <<EOF\n$(echo {{ .p }})\nEOF", f"cat <<EOF\n$(echo {T0})\nEOF"),
        ("cat <<'EOF'\n$x `y`\nEOF\necho {{ .p }}", f"cat <<'EOF'\n$x `y`\nEOF\necho {T0}"),
        ('x="$(cat <<EOF\n{{ .p }}\nEOF\n)"', 'x="$(cat <<EOF\n${CM_T0}\nEOF\n)"'),
        ("cat <<EOF\n{{ .p }}", "cat <<EOF\n${CM_T0}"),
        # template-side features
        ('echo {{ .p | default "x" }}', f"echo {T0}"),
        ("echo {{/* note */}}{{ .p }}", f"echo {T0}"),
        ("echo {# note #}{{ .p }}", f"echo {T0}"),
        ("echo x {{- .p }}", f"echo x{T0}"),
        ("echo {{ .p -}}   y", f"echo {T0}y"),
        (
            "kubectl get po -o go-template='{% raw %}{{.metadata.name}}{% endraw %}'",
            "kubectl get po -o go-template='{{.metadata.name}}'",
        ),
    ],
)
def test_quoting_by_context(command: str, script: str) -> None:
    assert compile_command(command).script == script


def test_expressions_and_names() -> None:
    compiled = compile_command(
        'echo {{ .alert.labels.pod }} "{{- .x | default "y" }}" {{ .alert.labels.pod }}'
    )
    assert compiled.expressions == (
        "{{ .alert.labels.pod }}",
        '{{- .x | default "y" }}',
        "{{ .alert.labels.pod }}",
    )
    assert compiled.names == ("CM_T0", "CM_T1", "CM_T2")
    assert compiled == CompiledCommand(
        'echo "${CM_T0}" "${CM_T1}" "${CM_T2}"', compiled.expressions
    )


def test_command_without_expressions_is_unchanged() -> None:
    for command in ["echo hi", "echo 'unbalanced", "cat <<'EOF'\n$x\nEOF", "echo $(( 1 << 2 ))"]:
        assert compile_command(command) == CompiledCommand(command, ())


@pytest.mark.parametrize(
    ("command", "message", "line"),
    [
        ("{{ if .x }}ls{{ end }}", "template control flow cannot be made shell-safe", 1),
        ("ls\n{{ range .pods }}x{{ end }}", "control flow", 2),
        ("{% for p in pods %}ls{% endfor %}", "control flow", 1),
        ("{% set x = 1 %}ls", "control flow", 1),
        ("cat <<'EOF'\n{{ .p }}\nEOF", r"\{\{ \.p \}\} is inside a quoted heredoc", 2),
        ('cat <<"EOF"\n{{ .p }}\nEOF', "quoted heredoc", 2),
        ("cat <<\\EOF\n{{ .p }}\nEOF", "quoted heredoc", 2),
        ("cat <<E'O'F\n{{ .p }}\nEOF", "quoted heredoc", 2),
        ("cat <<{{ .p }}\nx\n", "heredoc delimiter", 1),
        ("cat <<'{{ .p }}'\nx\n", "heredoc delimiter", 1),
        ("cat <<\nx {{ .p }}\n", "needs a delimiter", 1),
        ("echo $(( {{ .p }} * 2 ))", r"inside \$\(\( \)\)", 1),
        ("echo ${{ .p }}", "follows '\\$'", 1),
        ('echo "${{ .p }}"', "follows '\\$'", 1),
        ("echo \\{{ .p }}", "follows a backslash", 1),
        ('echo "\\{{ .p }}"', "follows a backslash", 1),
        ("echo ${ {{ .p }} }", "parameter name", 1),
        ("echo ${X{{ .p }}}", "parameter name", 1),
        ("{{ .p }}", "is a command name", 1),
        ("{{ .p }} --help", "is a command name", 1),
        ("ls\n{{ .p }}", "is a command name", 2),
        ("ls; {{ .p }}", "command name", 1),
        ("ls && {{ .p }}", "command name", 1),
        ("ls | {{ .p }}", "command name", 1),
        ("ls & {{ .p }}", "command name", 1),
        ("( {{ .p }} )", "command name", 1),
        ("FOO=1 {{ .p }}", "command name", 1),
        ("FOO=1 \\\n  {{ .p }}", "command name", 2),
        ("if {{ .p }}; then :; fi", "command name", 1),
        ("if true; then {{ .p }}; fi", "command name", 1),
        ("! {{ .p }}", "command name", 1),
        ("'{{ .p }}' x", "command name", 1),
        ('"{{ .p }}" x', "command name", 1),
        ("kubectl-{{ .p }} x", "command name", 1),
        ("x=$({{ .p }})", "command name", 1),
        ('echo "$({{ .p }} x)"', "command name", 1),
        ("echo `{{ .p }}`", "command name", 1),
        ("echo 'open {{ .p }}", "unterminated ' '", 1),
        ('echo "open {{ .p }}', 'unterminated " "', 1),
        ("echo $(echo {{ .p }}", r"unterminated \$\( \)", 1),
        ("echo ${X:-{{ .p }}", r"unterminated \$\{ \}", 1),
        ("echo `echo {{ .p }}", "unterminated ` `", 1),
        ("echo {{ .p.__class__ }}", "'__class__' is refused", 1),
        ("echo ok\necho {{ .p | }}", "expected token", 2),
        ("echo {{ . }}", "only allowed inside", 1),
        ("echo \x00 {{ .p }}", "NUL", None),
    ],
)
def test_refusals(command: str, message: str, line: int | None) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        compile_command(command)
    assert caught.value.line == line
    assert caught.value.template == command


def test_command_env_renders_each_expression() -> None:
    compiled = compile_command(
        'kubectl logs {{ .alert.labels.pod }} -n {{ .alert.labels.namespace | default "default" }}'
        " # {{ .missing.deep }}"
    )
    context = {"alert": {"labels": {"pod": "$(reboot)"}}}
    assert command_env(compiled, context) == {
        "CM_T0": "$(reboot)",
        "CM_T1": "default",
        "CM_T2": "",
    }


def test_command_env_drops_what_no_environment_can_hold() -> None:
    compiled = compile_command("echo {{ .v }}")
    assert command_env(compiled, {"v": "a\x00b\ud800c"}) == {"CM_T0": "abc"}


def test_command_env_refuses_values_over_the_kernel_limit() -> None:
    compiled = compile_command("echo {{ .v }}")
    fits = "x" * (MAX_ENV_STRING_BYTES - len("CM_T0=") - 1)
    assert command_env(compiled, {"v": fits})["CM_T0"] == fits
    with pytest.raises(TemplateError, match="pass large data through a file"):
        command_env(compiled, {"v": fits + "x"})


def test_command_env_reports_render_errors() -> None:
    compiled = compile_command("echo {{ .v + 1 }}")
    with pytest.raises(TemplateError, match="undefined"):
        command_env(compiled, {})


CORPUS = [
    "kubectl logs web -n shop --tail 50",
    "echo \"pod: $POD\" 'literal $x' $(date +%s) `hostname`",
    "curl -s \"$PROM/api/v1/query?query=up\" | jq -r '.data.result[] | .metric.job'",
    "cat <<EOF\nhello $USER\nEOF\nprintf '%s\\n' done",
    'x=${NS:-default}; y="${NS#pre}"; echo $x$y # trailing comment',
    'if [ -n "$A" ]; then echo a; else echo b; fi',
    'for p in a b c; do echo "$p" | tr a-z A-Z; done',
    "echo $'tab\\there' \"$(printf '%s' \"$(echo nested)\")\"",
]
REFERENCES = ['"${CM_T0}"', "${CM_T0}", "'\"${CM_T0}\"'", "'\"${CM_T0}\"$'"]


@given(
    script=st.sampled_from(CORPUS),
    position=st.integers(min_value=0, max_value=200),
    value=st.text(min_size=1).map(lambda text: "\u2603" + text),
)
def test_rendered_values_never_enter_the_script(script: str, position: int, value: str) -> None:
    position = min(position, len(script))
    expression = "{{ .alert.labels.v }}"
    command = script[:position] + expression + script[position:]
    try:
        compiled = compile_command(command)
    except TemplateError:
        assume(False)
        return
    env = command_env(compiled, {"alert": {"labels": {"v": value}}})
    clean = value.replace("\x00", "").encode("utf-8", "ignore").decode("utf-8")
    assert env == {"CM_T0": clean}
    assert clean not in compiled.script
    assert "\u2603" not in compiled.script
    assert compiled.expressions == (expression,)
    head, tail = script[:position], script[position:]
    assert compiled.script.startswith(head)
    assert compiled.script.endswith(tail)
    assert compiled.script[len(head) : len(compiled.script) - len(tail)] in REFERENCES
