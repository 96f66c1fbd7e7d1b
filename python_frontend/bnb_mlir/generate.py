"""`python -m bnb_mlir generate`: text in, text out, via `bnb-run --generate`.

The artifact (`NAME.bnb/`) computes token ids; this module turns a prompt
into ids with the checkpoint's tokenizer files and streams the generated ids
back as text:

- `load_tokenizer(directory)` reads `tokenizer.json` (with the `tokenizers`
  package), `tokenizer_config.json`, `special_tokens_map.json`,
  `generation_config.json` (and `config.json`), each optional except the
  first.
- `Tokenizer.encode_prompt(prompt)` gives the ids of transformers'
  `tokenizer(prompt)`; `Tokenizer.encode_chat(messages)` those of
  `apply_chat_template(messages, add_generation_prompt=True)`.
- `Tokenizer.stop_ids()`: the eos ids of generation_config.json (else
  config.json) and the tokenizer's eos token.
- `StreamDecoder` turns the generated ids, one at a time, into the text each
  adds (holding back incomplete UTF-8).
- `generate(...)` runs `bnb-run NAME.bnb --generate ... --report` and
  streams its output.

Every problem is a one-line BnbMlirError naming the file at fault.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence, TextIO

from .bounded_json import check_bounds
from .errors import BnbMlirError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "generation_config.json")

SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token",
                      "pad_token", "cls_token", "mask_token")

REPLACEMENT_CHAR = "\ufffd"


def _read_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise BnbMlirError(f"{path}: not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise BnbMlirError(f"{path}: {e.strerror or e}") from None
    try:
        data = json.loads(check_bounds(text, path))
    except json.JSONDecodeError as e:
        raise BnbMlirError(f"{path}: invalid JSON: line {e.lineno} column "
                           f"{e.colno}: {e.msg}") from None
    if not isinstance(data, dict):
        raise BnbMlirError(f"{path}: expected a JSON object")
    return data


def _token_text(value) -> str | None:
    """A special token as tokenizer_config.json stores it: a string, or an
    AddedToken object {"content": ...}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def find_tokenizer_dir(artifact: str | os.PathLike,
                       fallback: str | os.PathLike | None) -> Path:
    """The directory whose tokenizer files are used: the artifact directory
    when it holds tokenizer.json, else `fallback` (--tokenizer DIR)."""
    artifact = Path(artifact)
    if (artifact / "tokenizer.json").is_file():
        return artifact
    if fallback is not None:
        fallback = Path(fallback)
        if not fallback.is_dir():
            raise BnbMlirError(f"{fallback}: not a directory (--tokenizer "
                               "takes the checkpoint directory)")
        if not (fallback / "tokenizer.json").is_file():
            raise BnbMlirError(f"{fallback / 'tokenizer.json'}: no such file "
                               f"(nor in {artifact})")
        return fallback
    raise BnbMlirError(f"{artifact / 'tokenizer.json'}: no such file (the "
                       "artifact carries no tokenizer; pass --tokenizer "
                       "HF_DIR, the checkpoint directory)")


@dataclass
class Tokenizer:
    """The tokenizer files of one directory."""
    directory: Path
    backend: object                      # tokenizers.Tokenizer
    config: dict = field(default_factory=dict)       # tokenizer_config.json
    special_map: dict = field(default_factory=dict)  # special_tokens_map.json
    generation: dict = field(default_factory=dict)   # generation_config.json
    model_config: dict = field(default_factory=dict)  # config.json

    # -- special tokens -------------------------------------------------------

    def special_token(self, key: str) -> str | None:
        """bos_token, eos_token, ...: tokenizer_config.json, else
        special_tokens_map.json."""
        for source in (self.config, self.special_map):
            text = _token_text(source.get(key))
            if text is not None:
                return text
        return None

    def special_token_id(self, key: str) -> int | None:
        text = self.special_token(key)
        return None if text is None else self.backend.token_to_id(text)

    def special_tokens_map(self) -> dict:
        """What transformers passes to a chat template: every special token
        as a string, and additional_special_tokens as a list of strings."""
        out = {k: t for k in SPECIAL_TOKEN_KEYS
               if (t := self.special_token(k)) is not None}
        extra = self.config.get("additional_special_tokens",
                                self.special_map.get(
                                    "additional_special_tokens"))
        if isinstance(extra, list):
            out["additional_special_tokens"] = [
                t for t in map(_token_text, extra) if t is not None]
        return out

    def stop_ids(self) -> list[int]:
        """eos_token_id of generation_config.json (else config.json), an int
        or a list, and the id of the tokenizer's eos token."""
        ids: list[int] = []
        source, name = ((self.generation, "generation_config.json")
                        if "eos_token_id" in self.generation
                        else (self.model_config, "config.json"))
        value = source.get("eos_token_id")
        for v in (value if isinstance(value, list) else
                  [] if value is None else [value]):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise BnbMlirError(f"{self.directory / name}: eos_token_id "
                                   f"must be a token id or a list of them, "
                                   f"not {json.dumps(value)}")
            ids.append(v)
        eos = self.special_token_id("eos_token")
        if eos is not None:
            ids.append(eos)
        return list(dict.fromkeys(ids))

    # -- encoding -------------------------------------------------------------

    def _encode(self, text: str, add_special_tokens: bool) -> list[int]:
        return list(self.backend.encode(
            text, add_special_tokens=add_special_tokens).ids)

    def encode_prompt(self, prompt: str) -> list[int]:
        """The ids of transformers' `tokenizer(prompt)`: tokenizer.json's
        post-processor adds the special tokens it adds; an explicit
        `add_bos_token` / `add_eos_token` in tokenizer_config.json decides
        whether the bos / eos token is there (transformers rebuilds the
        post-processor from them)."""
        ids = self._encode(prompt, True)
        plain = self._encode(prompt, False)
        for key, flag, first in (("bos_token", "add_bos_token", True),
                                 ("eos_token", "add_eos_token", False)):
            want = self.config.get(flag)
            token = self.special_token_id(key)
            if not isinstance(want, bool) or token is None:
                continue
            edge = 0 if first else -1
            has = bool(ids) and ids[edge] == token
            added = has and not (plain and plain[edge] == token)
            if want and not has:
                ids = [token] + ids if first else ids + [token]
            elif not want and added:
                ids = ids[1:] if first else ids[:-1]
        return ids

    def chat_template(self) -> str:
        """tokenizer_config.json's chat_template (a string, or a list of
        named templates: the one named "default"), else chat_template.jinja
        beside it."""
        path = self.directory / "tokenizer_config.json"
        template = self.config.get("chat_template")
        if isinstance(template, list):
            named = {t.get("name"): t.get("template") for t in template
                     if isinstance(t, dict)}
            template = named.get("default")
            if template is None:
                raise BnbMlirError(f"{path}: chat_template has no template "
                                   "named 'default'")
        if template is None and (self.directory /
                                 "chat_template.jinja").is_file():
            return (self.directory / "chat_template.jinja").read_text(
                encoding="utf-8")
        if template is None:
            raise BnbMlirError(f"{path}: no chat_template (--chat needs "
                               "one)")
        if not isinstance(template, str):
            raise BnbMlirError(f"{path}: chat_template must be a string")
        return template

    def render_chat(self, messages: Sequence[dict],
                    add_generation_prompt: bool = True) -> str:
        """The chat template rendered as transformers' apply_chat_template
        renders it."""
        template = self.chat_template()
        env = _jinja_environment()
        import jinja2
        where = f"{self.directory / 'tokenizer_config.json'}: chat_template"
        try:
            compiled = env.from_string(template)
            return compiled.render(messages=list(messages), tools=None,
                                   documents=None,
                                   add_generation_prompt=add_generation_prompt,
                                   **self.special_tokens_map())
        except jinja2.TemplateSyntaxError as e:
            raise BnbMlirError(f"{where}: line {e.lineno}: {e.message}") \
                from None
        except jinja2.TemplateError as e:
            raise BnbMlirError(f"{where}: {_one_line(str(e))}") from None

    def encode_chat(self, messages: Sequence[dict]) -> list[int]:
        """The ids of apply_chat_template(messages,
        add_generation_prompt=True): the template writes the special tokens
        itself, so none are added."""
        return self._encode(self.render_chat(messages), False)

    # -- decoding -------------------------------------------------------------

    def decode(self, ids: Sequence[int]) -> str:
        """transformers' tokenizer.decode(ids) (special tokens kept)."""
        text = self.backend.decode(list(ids), skip_special_tokens=False)
        if self.config.get("clean_up_tokenization_spaces") is True:
            text = _clean_up_tokenization(text)
        return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clean_up_tokenization(text: str) -> str:
    """transformers' clean_up_tokenization."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","),
                 (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                 (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


def _jinja_environment():
    """The environment transformers renders chat templates in
    (utils/chat_template_utils.py: _compile_jinja_template)."""
    try:
        import jinja2
        from jinja2 import nodes
        from jinja2.ext import Extension, loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise BnbMlirError("--chat needs the 'jinja2' package (pip install "
                           "-r python_frontend/requirements.txt)") from None

    class Generation(Extension):
        """`{% generation %}...{% endgeneration %}` (transformers marks the
        assistant's text with it); renders its body unchanged."""
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",),
                                           drop_needle=True)
            return nodes.CallBlock(self.call_method("_body"), [], [],
                                   body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None,
               sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def load_tokenizer(directory: str | os.PathLike) -> Tokenizer:
    """Reads the tokenizer files of `directory` (tokenizer.json is
    required)."""
    directory = Path(directory)
    try:
        import tokenizers
    except ImportError:
        raise BnbMlirError("generate needs the 'tokenizers' package (pip "
                           "install -r python_frontend/requirements.txt)") \
            from None
    path = directory / "tokenizer.json"
    if not path.is_file():
        raise BnbMlirError(f"{path}: no such file")
    try:
        backend = tokenizers.Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises plain Exceptions
        raise BnbMlirError(f"{path}: not a tokenizer file the tokenizers "
                           f"package reads: {_one_line(str(e))}") from None

    def optional(name):
        p = directory / name
        return _read_json(p) if p.is_file() else {}

    return Tokenizer(directory, backend,
                     config=optional("tokenizer_config.json"),
                     special_map=optional("special_tokens_map.json"),
                     generation=optional("generation_config.json"),
                     model_config=optional("config.json"))


class StreamDecoder:
    """Turns generated ids, fed one at a time, into the text each one adds.

    Each step decodes context + all generated ids (`context`, the prompt's
    ids, gives the first generated token its leading space where a decoder
    strips it at the start of a text) and emits the new suffix. Text that
    ends in U+FFFD (an incomplete UTF-8 sequence of byte tokens) is held back
    until a later token completes it; `finish` emits whatever is left.
    """

    def __init__(self, tokenizer: Tokenizer, context: Sequence[int] = ()):
        self.tokenizer = tokenizer
        self.context = list(context)
        self.base = tokenizer.decode(self.context) if self.context else ""
        self.ids: list[int] = []
        self.emitted = ""
        # clean_up_tokenization rewrites up to 4 characters retroactively.
        self.hold = 4 if tokenizer.config.get(
            "clean_up_tokenization_spaces") is True else 0

    def _text(self) -> str:
        full = self.tokenizer.decode(self.context + self.ids)
        if full.startswith(self.base):
            return full[len(self.base):]
        return self.tokenizer.decode(self.ids)

    def _emit(self, text: str) -> str:
        if text.startswith(self.emitted):
            new = text[len(self.emitted):]
        else:  # earlier text changed: emit only what goes beyond it
            new = text[len(self.emitted):] if len(text) > len(
                self.emitted) else ""
        self.emitted = text if len(text) >= len(self.emitted) \
            else self.emitted
        return new

    def feed(self, token: int) -> str:
        self.ids.append(token)
        text = self._text()
        if text.endswith(REPLACEMENT_CHAR):
            return ""
        if self.hold:
            text = text[:max(len(self.emitted), len(text) - self.hold)]
        return self._emit(text)

    def finish(self) -> str:
        return self._emit(self._text()) if self.ids else ""


def sampling_args(temperature: float | None, top_k: int | None,
                  top_p: float | None, seed: int | None) -> list[str]:
    out = []
    for flag, value in (("temperature", temperature), ("top-k", top_k),
                        ("top-p", top_p), ("seed", seed)):
        if value is not None:
            out.append(f"--{flag}={value}")
    return out


@dataclass
class GenerationResult:
    prompt_ids: list[int]
    generated_ids: list[int]     # without the stop token
    stop_id: int | None          # the stop token that ended generation
    text: str                    # the generated text (prompt not included)
    report: list[str]            # bnb-run's --report lines


def run_generation(bnb_run: str | os.PathLike, artifact: str | os.PathLike,
                   tokenizer: Tokenizer, prompt_ids: Sequence[int],
                   max_new_tokens: int, extra_args: Sequence[str] = (),
                   stop_ids: Sequence[int] = (),
                   on_text: Callable[[str], None] | None = None,
                   on_stderr: Callable[[str], None] | None = None
                   ) -> GenerationResult:
    """Runs `bnb-run ARTIFACT --generate --report` on `prompt_ids`, reading
    its ids as they come and calling `on_text` with each new piece of text.
    A bnb-run failure raises BnbMlirError with its error line; its other
    stderr lines go to `on_stderr`."""
    if not prompt_ids:
        raise BnbMlirError("the prompt has no tokens")
    args = [str(bnb_run), str(artifact), "--generate",
            "--prompt-ids=" + ",".join(str(i) for i in prompt_ids),
            f"--max-new-tokens={max_new_tokens}", *extra_args, "--report"]
    if stop_ids:
        args.append("--stop-ids=" + ",".join(str(i) for i in stop_ids))
    stops = set(stop_ids)
    decoder = StreamDecoder(tokenizer, prompt_ids)
    generated: list[int] = []
    stop: int | None = None
    pieces: list[str] = []

    def emit(piece: str) -> None:
        if piece:
            pieces.append(piece)
            if on_text is not None:
                on_text(piece)

    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=0)
    except OSError as e:
        raise BnbMlirError(f"{bnb_run}: {e.strerror or e}") from None
    stderr_lines: list[str] = []
    reader = threading.Thread(
        target=lambda: stderr_lines.extend(
            proc.stderr.read().decode("utf-8", "replace").splitlines()),
        daemon=True)
    reader.start()
    buffer = b""
    ids_done = False
    bad_output: str | None = None
    try:
        while True:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
            while not ids_done:
                # Ids end with a space (or the newline that ends the line).
                cut = min((i for i in (buffer.find(b" "), buffer.find(b"\n"))
                           if i >= 0), default=-1)
                if cut < 0:
                    break
                word, sep = buffer[:cut], buffer[cut:cut + 1]
                buffer = buffer[cut + 1:]
                if word:
                    try:
                        token = int(word)
                    except ValueError:
                        # Not an id: bnb-run failed (with --report it prints
                        # its accounting after an error) or misbehaves.
                        bad_output = word.decode("utf-8", "replace")
                        buffer = word + sep + buffer
                        ids_done = True
                        break
                    if stop is None:
                        if token in stops:
                            stop = token
                        else:
                            generated.append(token)
                            emit(decoder.feed(token))
                if sep == b"\n":
                    ids_done = True
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join()
        proc.stdout.close()
        proc.stderr.close()
    if proc.returncode != 0:
        errors = [l for l in stderr_lines if l.startswith("error:")]
        message = errors[0][len("error:"):].strip() if errors else (
            stderr_lines[-1].strip() if stderr_lines else
            f"bnb-run exited with status {proc.returncode}")
        raise BnbMlirError(message)
    if bad_output is not None:
        raise BnbMlirError(f"{bnb_run}: printed '{bad_output}' where a token "
                           "id was expected")
    if on_stderr is not None:
        for line in stderr_lines:
            on_stderr(line)
    emit(decoder.finish())
    report = [l for l in buffer.decode("utf-8", "replace").splitlines()
              if l.strip()]
    return GenerationResult(list(prompt_ids), generated, stop,
                            "".join(pieces), report)


def generate_command(artifact: str, prompt: str, *, chat: bool = False,
                     tokenizer_dir: str | None = None,
                     max_new_tokens: int = 256,
                     temperature: float | None = None,
                     top_k: int | None = None, top_p: float | None = None,
                     seed: int | None = None, threads: int | None = None,
                     device: str | None = None, stream: bool = True,
                     out: TextIO | None = None,
                     err: TextIO | None = None) -> GenerationResult:
    """`python -m bnb_mlir generate`: the text goes to `out` (the prompt
    first unless `chat`, then the generated text, then a newline), the
    report to `err`."""
    from .tools import find_tool
    out = out or sys.stdout
    err = err or sys.stderr
    if not Path(artifact).is_dir():
        raise BnbMlirError(f"{artifact}: no such artifact directory")
    if max_new_tokens < 1:
        raise BnbMlirError("--max-new-tokens must be at least 1")
    tokenizer = load_tokenizer(find_tokenizer_dir(artifact, tokenizer_dir))
    prompt_ids = (tokenizer.encode_chat([{"role": "user", "content": prompt}])
                  if chat else tokenizer.encode_prompt(prompt))
    extra = sampling_args(temperature, top_k, top_p, seed)
    if threads is not None:
        extra.append(f"--threads={threads}")
    if device is not None:
        extra.append(f"--device={device}")
    bnb_run = find_tool("bnb-run")

    # The prompt is echoed with the first generated text (bnb-run checks
    # everything before it prints), so a refused run prints no text.
    pending = "" if chat else prompt
    started = False

    def write(text: str) -> None:
        nonlocal started, pending
        started = True
        out.write(pending + text)
        pending = ""
        out.flush()

    try:
        result = run_generation(
            bnb_run, artifact, tokenizer, prompt_ids, max_new_tokens, extra,
            tokenizer.stop_ids(), on_text=write if stream else None,
            on_stderr=lambda line: print(line, file=err))
    except BnbMlirError:
        if started:
            write("\n")
        raise
    write(("" if stream else result.text) + "\n")
    for line in result.report:
        print(line, file=err)
    if result.stop_id is not None:
        print(f"stopped at: {tokenizer.decode([result.stop_id])!r} "
              f"(id {result.stop_id})", file=err)
    err.flush()
    return result
