"""The entrypoint and env files of an image, in the formats rules_oci's `oci_image` reads; its launchers.

rules_oci 2.3.x (oci/private/image.sh) reads them so:
- entrypoint (and cmd): split on newlines, empty lines dropped, then every
  `%5Cn` turned into a newline. So an argument holding a newline is written
  with `%5Cn`, and an empty argument or one holding a literal `%5Cn` cannot be
  written at all: both are refused here, naming the argument.
- env: one `KEY=VALUE` a line, the key up to the first `=`; in the value,
  `$NAME` and `${NAME}` are replaced by NAME's value in the environment built
  so far (the base image's, updated line by line), an unknown NAME by nothing;
  there is no escape. A key already in the base image is replaced in place,
  others are appended.

`py_image(env = ...)` takes that expansion as its meaning, with one rule that
keeps it independent of line order: a value may refer to its own key
(`PATH=/opt/bin:$PATH`) and to any variable of the base image, but not to
another key set in the same env, whose value would depend on the order
rules_oci reads the lines in.
"""

visibility(["//py/..."])

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_NEWLINE_CODE = "%5Cn"

def _quoted(s):
    return json.encode(s)

def entrypoint_text(owner, command, args):
    """The entrypoint file: `command` then `args`, one a line, newlines as `%5Cn`.

    Args:
        owner: the target, for error messages.
        command: the interpreter and main file (never empty).
        args: the user's `args` attribute.

    Returns:
        The file's text.
    """
    for i, arg in enumerate(args):
        if arg == "":
            fail("{}: args[{}] is empty, and rules_oci's oci_image drops empty arguments from the entrypoint; remove it or give it a value (e.g. `--flag=`)".format(owner, i))
        if _NEWLINE_CODE in arg:
            fail("{}: args[{}] = {} holds `{}`, which rules_oci's oci_image reads back as a newline; it cannot pass it literally: change the argument".format(owner, i, _quoted(arg), _NEWLINE_CODE))
    for part in command:
        if part == "" or "\n" in part or _NEWLINE_CODE in part:
            fail("{}: the entrypoint part {} cannot be written for rules_oci's oci_image (empty, or holding a newline or `{}`)".format(owner, _quoted(part), _NEWLINE_CODE))
    return "".join([a.replace("\n", _NEWLINE_CODE) + "\n" for a in command + args])

def referenced_names(value):
    """The variable names `value` refers to as rules_oci expands them (`$NAME`, `${NAME}`).

    Args:
        value: an env value.

    Returns:
        The names, in order, repeats included.
    """
    names = []
    chars = value.elems()
    n = len(chars)
    i = 0
    for _ in range(n):
        if i >= n:
            break
        if chars[i] != "$":
            i += 1
            continue
        j = i + 1
        if j < n and chars[j] == "{":
            j += 1
        start = j
        for _ in range(n):
            if j < n and chars[j] in _NAME_CHARS:
                j += 1
            else:
                break
        if j > start:
            names.append(value[start:j])
            i = j
        else:
            i += 1
    return names

def env_text(owner, own, user):
    """The env file: `own` (what the image needs), then `user` on top; sorted `KEY=VALUE` lines.

    Args:
        owner: the target, for error messages.
        own: the variables rules_pyimage sets (`PYTHONPATH`, ...); never expanded.
        user: the user's `env` attribute; may refer to the base image's variables.

    Returns:
        The file's text.
    """
    for key, value in own.items():
        if "$" in value:
            fail("{}: {}={} holds `$`, which rules_oci's oci_image would expand as a variable; rename the binary, its package or its imports so their paths have no `$`".format(owner, key, _quoted(value)))
    for key, value in user.items():
        if key == "" or "=" in key or "\n" in key:
            fail("{}: env key {} is not a variable name rules_oci can write (empty, or holding `=` or a newline)".format(owner, _quoted(key)))
        if "\n" in value:
            fail("{}: env {} holds a newline, which rules_oci's env file cannot carry; remove it".format(owner, key))
        for name in referenced_names(value):
            if name in own or (name != key and name in user):
                fail("{}: env {}={} refers to ${}, which this image sets too; rules_oci would expand it from the base image or from this env depending on line order: give the value in full".format(owner, key, _quoted(value), name))
    env = dict(own)
    env.update(user)
    return "".join(["{}={}\n".format(k, env[k]) for k in sorted(env)])

def launcher_text(binary, python, own, user, main):
    """A binary's launcher in the image (`/app/<name>`): a Python script that runs it with its own environment.

    The image's environment is its default binary's; a launcher sets its
    binary's `own` variables (`PYTHONPATH`, `RUNFILES_DIR`) but those the
    user's `env` gives (the image has the user's), then replaces itself
    (exec) with the interpreter running the binary's main file, its
    arguments passed on. It needs no shell: `<python> /app/<name>` runs it
    on any base, and `/app/<name>` alone where its `#!` line resolves (the
    interpreter layer's absolute path, else `/usr/bin/env <python>`).

    Args:
        binary: the binary's label, for the comment.
        python: the interpreter command of the image's entrypoint.
        own: the binary's own variables.
        user: the user's `env` attribute.
        main: the binary's main file in the image.

    Returns:
        The script's text (JSON strings are Python string literals).
    """
    env = {k: v for k, v in own.items() if k not in user}
    shebang = python if python.startswith("/") else "/usr/bin/env " + python
    return "\n".join([
        "#!" + shebang,
        "# Runs {} with its own environment (rules_pyimage's launcher).".format(binary),
        "import os",
        "import sys",
        "",
        "os.environ.update({})".format(json.encode(env)),
        "os.environ.pop(\"RUNFILES_MANIFEST_FILE\", None)",
        "os.execv(sys.executable, [sys.executable, {}, *sys.argv[1:]])".format(_quoted(main)),
        "",
    ])
