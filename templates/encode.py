"""Turn conversations into token ids and labels with a chat template, masking everything but the replies.

A conversation is ``[{"role": "system"|"user"|"assistant", "content": str}, ...]``: an optional leading system
message, then user and assistant messages taking turns, ending with an assistant message (for training).

How a conversation becomes tokens:

1. The template renders it as a sequence of *segments*: ``prompt_1, reply_1, prompt_2, reply_2, ..., tail``.
   A prompt is everything before a reply that the model does not write (prefix, system, the user message, the
   assistant header, the separator after the previous reply); a reply is the assistant's text **and its stop
   token**; the tail is what follows the last reply (a separator, phi3's eos).
2. Every text piece of every conversation is tokenized in one batch call with ``add_special_tokens=False``
   (parallel Rust in a fast tokenizer); ``{bos}``/``{eos}`` are inserted by id. Pieces are also cut at the
   tokenizer's special tokens (which it splits at first anyway), so a repeated piece such as a system prompt is
   tokenized once. The templates put segment boundaries where pre-tokenizers split anyway (special tokens,
   newlines, before a space-led word), so the concatenation equals tokenizing the whole rendered string (the
   tests check this for every built-in template but ``empty``, which joins prompt and reply with nothing between
   them, so a word can straddle the boundary; the prompt is then tokenized as it will be at inference).
3. Labels are ``-100`` on prompts and the tail (unless ``train_on_prompt``) and the token ids on every reply.
4. Truncation to ``cutoff_len`` (see :func:`_truncate`): whole leading turns are kept; the first turn that does
   not fit keeps its prompt whole and the head of its reply; if even the first turn's prompt leaves no room for a
   reply token, prompt and reply share the budget in proportion to their lengths (LLaMA-Factory's rule), the
   prompt keeping its head, the reply at least one token. A sample with no trainable token left is ``None``.

The ``default`` template with a tokenizer that has its own chat template renders through that Jinja template:
the prompt of reply *i* is the rendering of the messages before it with ``add_generation_prompt=True``; the reply
runs from there through the first special token after the reply text (its stop token).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from ft_tui.planner.errors import ConfigError, DataError
from ft_tui.planner.messages import Msg

from .registry import BOS, CONTENT, EOS, Template, tokenizer_chat_template

IGNORE_INDEX = -100
_BOS_CODE, _EOS_CODE = -1, -2
Message = dict[str, Any]


@dataclass(frozen=True)
class Encoded:
    """One training sample: token ids and labels (``-100`` where no loss is taken), same length."""

    input_ids: list[int]
    labels: list[int]


# ------------------------------------------------------------------------------------------------ validation

def _split(messages: Sequence[Message], *, need_reply: bool) -> tuple[str | None, list[tuple[str, str | None]]]:
    """Validate a conversation; return (system or None, [(user, reply or None), ...])."""
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise DataError(Msg("err_conv_empty"), hint=Msg("hint_columns_mapping"))
    system: str | None = None
    pairs: list[tuple[str, str | None]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), str):
            raise DataError(Msg("err_conv_message", i=i, shown=f"{msg!r:.80}"))
        role = msg.get("role")
        if role == "system" and i == 0:
            system = msg["content"]
        elif role == "user" and (not pairs or pairs[-1][1] is not None):
            pairs.append((msg["content"], None))
        elif role == "assistant" and pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], msg["content"])
        else:
            raise DataError(Msg("err_conv_order", i=i, role=repr(role)), hint=Msg("hint_conv_order"))
    if not pairs:
        raise DataError(Msg("err_conv_no_user"))
    if need_reply and pairs[-1][1] is None:
        raise DataError(Msg("err_conv_ends_user"))
    return system, pairs


# ------------------------------------------------------------------------------------------------ slot rendering

def _fill(slot: tuple[str, ...], content: str = "") -> list[str]:
    return [content if p is CONTENT or p == CONTENT else p for p in slot]


def _strip(t: Template, role: str, text: str) -> str:
    return text.strip() if role in t.strip else text


def _think(t: Template, content: str, last: bool) -> tuple[str, str]:
    """(text for the prompt, reply content) after reasoning handling (Qwen3's official rules)."""
    th = t.thinking
    if th is None:
        return "", content
    if not last:
        return "", content.split(th.close_tag)[-1].lstrip("\n") if th.close_tag in content else content
    if th.close_tag in content:
        head, rest = content.split(th.close_tag)[0], content.split(th.close_tag)[-1]
        reasoning = head.rstrip("\n").split(th.open_tag)[-1].lstrip("\n").strip("\n")
        return "", f"{th.open_tag}\n{reasoning}\n{th.close_tag}\n\n{rest.lstrip(chr(10))}"
    if th.in_prompt:
        return th.empty, content.lstrip("\n")
    return "", th.empty + content.lstrip("\n")


def _segments(t: Template, messages: Sequence[Message], *, add_generation_prompt: bool = False,
              need_reply: bool = True) -> list[list[str]]:
    """Render to ``[prompt_1, reply_1, ..., tail]``; each a list of literal strings and BOS/EOS markers."""
    system, pairs = _split(messages, need_reply=need_reply)
    out: list[list[str]] = []
    pending: list[str] = list(t.slot("prefix"))
    sys_text = system if system is not None else t.default_system
    fold = ""
    if system is not None or t.default_system:
        rendered = _fill(t.slot("system"), _strip(t, "system", sys_text))
        if t.system_in_user:
            fold = "".join(rendered)
        else:
            pending += rendered
    for i, (user, reply) in enumerate(pairs):
        user = (fold if i == 0 else "") + _strip(t, "user", user)
        pending += _fill(t.slot("user"), user)
        if reply is None:  # a trailing user message (inference)
            if add_generation_prompt:
                pending += t.slot("assistant_start")
                if t.thinking is not None and t.thinking.in_prompt:
                    pending.append(t.thinking.empty)
            break
        pending += t.slot("assistant_start")
        in_prompt, content = _think(t, _strip(t, "assistant", reply), last=i == len(pairs) - 1)
        if in_prompt:
            pending.append(in_prompt)
        out.append(pending)
        out.append(_fill(t.slot("assistant"), content))
        pending = list(t.slot("separator"))
    if not add_generation_prompt:
        pending += t.slot("suffix")
    out.append(pending)
    return out


def _token_strings(t: Template, tokenizer: Any) -> tuple[str, str]:
    bos = getattr(tokenizer, "bos_token", None) if tokenizer is not None else t.tokens.get("bos", "<s>")
    eos = getattr(tokenizer, "eos_token", None) if tokenizer is not None else t.tokens.get("eos", "</s>")
    return bos or "", eos or ""


def render_text(template: Template, messages: Sequence[Message], tokenizer: Any = None, *,
                add_generation_prompt: bool = False) -> str:
    """The whole conversation as text, as the model sees it.

    ``{bos}``/``{eos}`` become the tokenizer's tokens (or the template's ``tokens`` when no tokenizer is given).
    ``default`` with a tokenizer that has a chat template renders through that template. A conversation ending
    with a user message and ``add_generation_prompt=True`` ends with the assistant header (an inference prompt).
    """
    if _uses_jinja(template, tokenizer):
        return _apply_jinja(tokenizer, [list(messages)], add_generation_prompt)[0]
    bos, eos = _token_strings(template, tokenizer)
    subst = {BOS: bos, EOS: eos}
    segs = _segments(template, messages, add_generation_prompt=add_generation_prompt, need_reply=False)
    return "".join(subst.get(p, p) for seg in segs for p in seg)


# ------------------------------------------------------------------------------------------------ jinja path

def _uses_jinja(t: Template, tokenizer: Any) -> bool:
    return t.use_tokenizer_template and bool(tokenizer_chat_template(tokenizer))


def _apply_jinja(tokenizer: Any, convs: list[list[Message]], add_generation_prompt: bool) -> list[str]:
    if not convs:
        return []
    try:
        out = tokenizer.apply_chat_template(convs, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception as exc:  # jinja's raise_exception, TemplateError: the template rejects the data
        raise DataError(Msg("err_chat_template_render", error=str(exc)),
                        hint=Msg("hint_fix_data_or_template")) from None
    return [out] if isinstance(out, str) else list(out)


def _jinja_segments(tokenizer: Any, convs: list[list[Message]]) -> list[list[list[str]]]:
    """Split the Jinja rendering of each conversation into [prompt, reply, ..., tail] texts.

    Reply *k* starts where the rendering of the messages before it with ``add_generation_prompt=True`` ends, and
    ends after the first special token (its stop token) that follows the reply text.
    """
    specials = sorted({s for s in (getattr(tokenizer, "all_special_tokens", None) or []) if s}, key=len,
                      reverse=True)
    owners = [(c, k) for c, conv in enumerate(convs) for k, msg in enumerate(conv) if msg["role"] == "assistant"]
    fulls = _apply_jinja(tokenizer, convs, False)
    prefixes = _apply_jinja(tokenizer, [convs[c][:k] for c, k in owners], True)
    throughs = _apply_jinja(tokenizer, [convs[c][:k + 1] for c, k in owners], False)
    starts: list[list[int]] = [[] for _ in convs]
    for (c, _k), before in zip(owners, prefixes, strict=True):
        if not fulls[c].startswith(before):
            raise ConfigError(Msg("err_jinja_unstable"), key="template", hint=Msg("hint_builtin_template"))
        starts[c].append(len(before))
    edges: list[list[int]] = [[0] for _ in convs]
    for (c, k), through in zip(owners, throughs, strict=True):
        turn = (len(edges[c]) - 1) // 2
        start = starts[c][turn]
        next_start = starts[c][turn + 1] if turn + 1 < len(starts[c]) else len(fulls[c])
        end = _reply_end(fulls[c], start, next_start, through, convs[c][k]["content"], specials)
        edges[c] += [start, end]
    for full, cut in zip(fulls, edges, strict=True):
        cut.append(len(full))
    return [[[full[a:b]] for a, b in zip(cut, cut[1:], strict=False)] for full, cut in zip(fulls, edges, strict=True)]


def _reply_end(full: str, start: int, next_start: int, through: str, reply: str, specials: list[str]) -> int:
    """Where the reply that starts at ``start`` ends in ``full``: after the first special token past its text.

    The search stops where the rendering "through this reply" stops agreeing with the full one (phi3 appends eos
    only at the very end), unless the template rewrites the last reply (Qwen3's think block): then at the next
    turn's prompt.
    """
    agree = _common_prefix_len(full, through)
    bound = min(agree, next_start) if agree > start else next_start
    reply = reply.strip()
    pos = full.find(reply, start, bound) if reply else -1
    search = pos + len(reply) if pos >= 0 else start
    return min((i + len(s) for s in specials if (i := full.find(s, search, bound)) >= 0), default=bound)


def _common_prefix_len(a: str, b: str) -> int:
    """Length of the common prefix of two strings (binary search on C-level comparisons)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ------------------------------------------------------------------------------------------------ tokenizing

def tokenize_texts(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of each text without special tokens added; one parallel batch call on a fast tokenizer."""
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    fast = getattr(backend, "encode_batch_fast", None)
    if fast is not None:
        return [e.ids for e in fast(texts, add_special_tokens=False)]
    return list(tokenizer(texts, add_special_tokens=False)["input_ids"])


def _special_id(tokenizer: Any, which: str, template: Template) -> int | None:
    tid = getattr(tokenizer, f"{which}_token_id", None)
    if tid is None and which == "eos":
        raise ConfigError(Msg("err_template_no_eos", name=template.name), key="template",
                          hint=Msg("hint_template_no_eos"))
    return tid


def _truncate(pairs: list[tuple[list[int], list[int]]], tail: list[int],
              cutoff_len: int) -> tuple[list[tuple[list[int], list[int]]], list[int]]:
    """Fit (prompt, reply) pairs and the tail into ``cutoff_len`` tokens (rule in the module docstring)."""
    if sum(len(p) + len(r) for p, r in pairs) + len(tail) <= cutoff_len:
        return pairs, tail
    kept: list[tuple[list[int], list[int]]] = []
    used = 0
    for prompt, reply in pairs:
        budget = cutoff_len - used
        if len(prompt) + len(reply) <= budget:
            kept.append((prompt, reply))
            used += len(prompt) + len(reply)
            continue
        if len(prompt) < budget:
            kept.append((prompt, reply[:budget - len(prompt)]))
        elif not kept and budget > 0 and reply:
            n_reply = max(1, min(len(reply), budget * len(reply) // (len(prompt) + len(reply))))
            kept.append((prompt[:budget - n_reply], reply[:n_reply]))
        break
    return kept, []


def _assemble(pairs: list[tuple[list[int], list[int]]], tail: list[int], cutoff_len: int,
              train_on_prompt: bool) -> Encoded | None:
    pairs, tail = _truncate(pairs, tail, cutoff_len)
    ids: list[int] = []
    labels: list[int] = []
    for prompt, reply in pairs:
        ids += prompt
        labels += prompt if train_on_prompt else [IGNORE_INDEX] * len(prompt)
        ids += reply
        labels += reply
    ids += tail
    labels += tail if train_on_prompt else [IGNORE_INDEX] * len(tail)
    if not (any(reply for _, reply in pairs) or (train_on_prompt and ids)):
        return None
    return Encoded(ids, labels)


def encode_batch(template: Template, tokenizer: Any, conversations: Sequence[Sequence[Message]],
                 cutoff_len: int, train_on_prompt: bool = False, *,
                 drop_invalid: bool = False) -> list[Encoded | None]:
    """Encode many conversations with one tokenizer call; ``None`` where nothing trainable is left.

    A malformed conversation raises :class:`DataError` naming its index, or gives ``None`` with
    ``drop_invalid=True``.
    """
    if not isinstance(cutoff_len, int) or cutoff_len < 1:
        raise ConfigError(Msg("cutoff_not_positive", value=cutoff_len), key="cutoff_len")
    rendered: list[list[list[str]] | None] = []
    if _uses_jinja(template, tokenizer):
        valid = []
        for i, conv in enumerate(conversations):
            ok = _valid_or_none(conv, i, drop_invalid)
            rendered.append(None)
            if ok:
                valid.append(i)
        for i, segs in zip(valid, _jinja_segments(tokenizer, [list(conversations[i]) for i in valid]), strict=True):
            rendered[i] = segs
    else:
        for i, conv in enumerate(conversations):
            try:
                rendered.append(_segments(template, conv))
            except DataError as exc:
                if not drop_invalid:
                    raise DataError(Msg("err_in_conversation", i=i, message=exc.message), hint=exc.hint) from None
                rendered.append(None)
    return _encode_rendered(template, tokenizer, rendered, cutoff_len, train_on_prompt)


def _valid_or_none(conv: Sequence[Message], index: int, drop_invalid: bool) -> bool:
    try:
        _split(conv, need_reply=True)
    except DataError as exc:
        if not drop_invalid:
            raise DataError(Msg("err_in_conversation", i=index, message=exc.message), hint=exc.hint) from None
        return False
    return True


def _encode_rendered(template: Template, tokenizer: Any, rendered: list[list[list[str]] | None],
                     cutoff_len: int, train_on_prompt: bool) -> list[Encoded | None]:
    """Tokenize every text piece at once, then rebuild each sample's segments and labels."""
    texts: list[str] = []
    index: dict[str, int] = {}
    split = _special_splitter(tokenizer)
    plans: list[list[list[int]] | None] = []
    need_bos = need_eos = False
    for segs in rendered:
        if segs is None:
            plans.append(None)
            continue
        plan = []
        for seg in segs:
            codes: list[int] = []
            buf = ""
            for part in seg:
                if part == BOS or part == EOS:
                    _intern_text(buf, split, codes, texts, index)
                    buf = ""
                    need_bos |= part == BOS
                    need_eos |= part == EOS
                    codes.append(_BOS_CODE if part == BOS else _EOS_CODE)
                else:
                    buf += part
            _intern_text(buf, split, codes, texts, index)
            plan.append(codes)
        plans.append(plan)
    bos_id = _special_id(tokenizer, "bos", template) if need_bos else None
    eos_id = _special_id(tokenizer, "eos", template) if need_eos else None
    token_ids = tokenize_texts(tokenizer, texts)
    # the negative codes index the end of the list: -2 is eos, -1 is bos
    token_ids.append([eos_id] if eos_id is not None else [])  # eos_id is set whenever need_eos (else it raised)
    token_ids.append([bos_id] if bos_id is not None else [])
    piece = token_ids.__getitem__
    out: list[Encoded | None] = []
    for row_plan in plans:
        if row_plan is None:
            out.append(None)
            continue
        segs_ids = [list(chain.from_iterable(map(piece, seg))) for seg in row_plan]
        pairs = list(zip(segs_ids[0:-1:2], segs_ids[1:-1:2], strict=True))
        out.append(_assemble(pairs, segs_ids[-1], cutoff_len, train_on_prompt))
    return out


def _special_splitter(tokenizer: Any) -> re.Pattern[str] | None:
    """A regex that splits text at the tokenizer's plain special tokens (no lstrip/rstrip/single_word).

    The tokenizer splits at those tokens before anything else, so the pieces between them tokenize independently
    and a piece repeated across rows (a system prompt, a role header) needs tokenizing only once.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    getter = getattr(backend, "get_added_tokens_decoder", None)
    if getter is None:
        return None
    plain = {t.content for t in getter().values()
             if t.special and t.content and not (t.lstrip or t.rstrip or t.single_word)}
    if not plain:
        return None
    return re.compile("(" + "|".join(re.escape(t) for t in sorted(plain, key=len, reverse=True)) + ")")


def _intern_text(text: str, split: re.Pattern[str] | None, codes: list[int], texts: list[str],
                 index: dict[str, int]) -> None:
    """Append the batch indices of ``text``'s pieces to ``codes``; each distinct piece is tokenized once."""
    if not text:
        return
    for piece in (split.split(text) if split is not None else (text,)):
        if piece:
            i = index.get(piece)
            if i is None:
                i = index[piece] = len(texts)
                texts.append(piece)
            codes.append(i)


def encode_messages(template: Template, tokenizer: Any, messages: Sequence[Message], cutoff_len: int,
                    train_on_prompt: bool = False) -> Encoded | None:
    """Encode one conversation (see the module docstring); ``None`` when no trainable token is left."""
    return encode_batch(template, tokenizer, [messages], cutoff_len, train_on_prompt)[0]
