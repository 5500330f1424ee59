"""Template registry: built-in files, user overrides, malformed files, detection and the base-model warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from ft_tui.planner.errors import ConfigError
from ft_tui.templates import registry
from ft_tui.templates.registry import (
    get_template,
    is_base_model_warning,
    list_templates,
    resolve_template,
    template_problems,
)

FIXTURES = Path(__file__).parent / "fixtures"
REQUIRED = {"default", "empty", "alpaca", "chatml", "qwen", "qwen3", "qwen3_nothink", "llama2", "llama3",
            "mistral", "gemma", "phi3", "phi4", "deepseek3", "vicuna", "zephyr"}


@pytest.fixture(autouse=True)
def _no_user_templates(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def user_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "xdg" / "ft-tui" / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_builtin_templates_load_and_cover_the_required_families():
    names = set(list_templates())
    assert REQUIRED <= names
    assert len(names) >= 14
    for name in names:
        t = get_template(name)
        assert t.name == name
        assert t.assistant.endswith(t.stop_token), name
        assert t.all_stop_words[0] == t.stop_token


def test_qwen_defaults_match_the_official_models():
    assert get_template("qwen").default_system == ("You are Qwen, created by Alibaba Cloud. "
                                                   "You are a helpful assistant.")
    assert get_template("qwen3").default_system == ""
    assert get_template("llama2").system_in_user and get_template("gemma").system_in_user


def test_unknown_name_lists_the_known_templates():
    with pytest.raises(ConfigError) as exc:
        get_template("nope")
    assert "unknown chat template 'nope'" in str(exc.value)
    assert "llama3" in str(exc.value) and "chatml" in str(exc.value)
    with pytest.raises(ConfigError):
        resolve_template("nope")


def test_user_template_adds_and_overrides(tmp_path):
    folder = user_dir(tmp_path)
    (folder / "mine.yaml").write_text('name: mine\nuser: "Q: {content}\\n"\nassistant_start: "A:"\n'
                                      'assistant: " {content}{eos}"\n', encoding="utf-8")
    (folder / "alpaca.yaml").write_text('name: alpaca\ndefault_system: "Be brief."\nuser: "{content}"\n'
                                        'assistant: "{content}{eos}"\n', encoding="utf-8")
    assert "mine" in list_templates()
    assert get_template("mine").user == "Q: {content}\n"
    assert get_template("alpaca").default_system == "Be brief."
    assert get_template("alpaca").source.endswith("alpaca.yaml") and "xdg" in get_template("alpaca").source
    template, reason = resolve_template("mine")
    assert template.name == "mine" and "set in the config" in reason


@pytest.mark.parametrize(("text", "fragment"), [
    ("name: [unclosed\n", "not valid YAML"),
    ('name: x\nuser: "{content}"\nuser: "Q: {content}"\nassistant: "{content}{eos}"\n',
     "key 'user' appears twice (first on line 2)"),
    ("- just\n- a list\n", "YAML mapping"),
    ('name: x\nassistant: "{content}"\n', "key 'user' is required"),
    ('name: x\nuser: "{content}"\nassistant: "{content}"\nstop_token: "<end>"\n', "must end with the stop token"),
    ('name: x\nuser: "{content}"\nassistant: "{content}{eos}"\ncolour: red\n', "unknown key(s): colour"),
    ('name: x\nuser: "hi"\nassistant: "{content}{eos}"\n', "must contain {content} exactly once"),
    ('name: x\nuser: "{content}"\nassistant: "{content}{eos}"\nstrip: [robot]\n', "unknown role"),
    ('name: x\nuser: "{content}"\nassistant: "{content}{eos}"\nsystem: "{bos}{content}"\nsystem_in_user: true\n',
     "cannot use {bos}/{eos}"),
    ('name: x\nuser: "{content}"\nassistant: "{content}{eos}"\nchat: "yes"\n', "must be true or false"),
    ('name: x\nuser: "{content}"\nassistant: "{content}{eos}"\nmatch: {names: ["(unclosed"]}\n',
     "not a regular expression"),
])
def test_malformed_user_template_names_the_file(tmp_path, text, fragment):
    path = user_dir(tmp_path) / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    assert "chatml" in list_templates() and "broken" not in list_templates()  # the others still list
    (problem,) = template_problems()
    message = str(problem)
    assert str(path) in message
    assert fragment in message
    with pytest.raises(ConfigError) as exc:
        get_template("broken")  # a run that asks for it by its file name
    assert str(exc.value) == message


def test_yaml_syntax_error_reports_the_line(tmp_path):
    path = user_dir(tmp_path) / "broken.yaml"
    path.write_text('name: x\nuser: "{content}"\nassistant: "unclosed\n', encoding="utf-8")
    (problem,) = template_problems()
    assert problem.file == str(path) and problem.line is not None


def test_readme_documents_every_key():
    readme = (registry.BUILTIN_DIR / "README.md").read_text(encoding="utf-8")
    for key in sorted(registry._KNOWN_KEYS):
        assert f"`{key}`" in readme, key
        assert f"{key}:" in registry.__doc__, key  # the module docstring documents the format too


# ------------------------------------------------------------------------------------------------ detection

class _Tok:
    def __init__(self, chat_template):
        self.chat_template = chat_template


@pytest.mark.parametrize(("fixture", "expected"), [
    ("chatml", "chatml"), ("qwen2", "qwen2"), ("qwen2.5", "qwen"), ("qwen3", "qwen3"), ("llama3", "llama3"),
    ("llama2", "llama2"), ("mistral", "mistral"), ("gemma", "gemma"), ("phi3", "phi3"), ("phi4", "phi4"),
    ("deepseek3", "deepseek3"), ("zephyr", "zephyr"),
])
def test_detects_the_template_from_the_tokenizer_chat_template(fixture, expected):
    tok = _Tok((FIXTURES / f"{fixture}.jinja").read_text(encoding="utf-8"))
    template, reason = resolve_template(None, tok, model_name="some/unrelated-name", model_type="llama")
    assert template.name == expected
    assert "tokenizer's chat template" in reason


def test_unknown_tokenizer_template_is_used_as_is_through_default():
    template, reason = resolve_template(None, _Tok("{% for m in messages %}<<{{ m.content }}>>{% endfor %}"),
                                        model_name="Qwen/Qwen2.5-7B-Instruct")
    assert template.name == "default" and "matches no built-in" in reason


def test_dict_chat_templates_are_read():
    tok = _Tok({"default": (FIXTURES / "gemma.jinja").read_text(encoding="utf-8"), "tool_use": "x"})
    assert resolve_template(None, tok)[0].name == "gemma"


@pytest.mark.parametrize(("model_type", "name", "expected"), [
    ("qwen3", "", "qwen3"),
    ("qwen3_moe", "", "qwen3"),
    ("gemma2", "", "gemma"),
    ("gemma3_text", "my-finetune", "gemma"),
    ("mistral", "", "mistral"),
    ("deepseek_v3", "", "deepseek3"),
    ("qwen2", "Qwen/Qwen2.5-1.5B-Instruct", "qwen"),
    ("qwen2", "Qwen/Qwen2-7B-Instruct", "qwen2"),
    ("phi3", "microsoft/phi-4", "phi4"),
    ("phi3", "microsoft/Phi-3-mini-4k-instruct", "phi3"),
    ("mistral", "HuggingFaceH4/zephyr-7b-beta", "zephyr"),
])
def test_detects_from_model_type_narrowed_by_name(model_type, name, expected):
    template, reason = resolve_template(None, None, model_name=name, model_type=model_type)
    assert template.name == expected
    assert ("model_type" in reason) or ("model name" in reason)


@pytest.mark.parametrize(("name", "expected"), [
    ("meta-llama/Meta-Llama-3-8B-Instruct", "llama3"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3"),
    ("meta-llama/Llama-2-7b-chat-hf", "llama2"),
    ("Qwen/Qwen2.5-0.5B-Instruct", "qwen"),
    ("Qwen/Qwen3-8B", "qwen3"),
    ("google/gemma-2-9b-it", "gemma"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
    ("deepseek-ai/DeepSeek-V3", "deepseek3"),
    ("lmsys/vicuna-7b-v1.5", "vicuna"),
    ("/models/local/phi-4", "phi4"),
])
def test_detects_from_the_model_name(name, expected):
    template, reason = resolve_template(None, None, model_name=name)
    assert template.name == expected
    assert "model name" in reason


def test_nothing_matches_falls_back_to_default():
    template, reason = resolve_template(None, _Tok(None), model_name="acme/mystery-7b", model_type="mystery")
    assert template.name == "default" and "no chat template" in reason


def test_explicit_name_wins_over_detection():
    tok = _Tok((FIXTURES / "llama3.jinja").read_text(encoding="utf-8"))
    assert resolve_template("chatml", tok, "Meta-Llama-3-8B-Instruct", "llama")[0].name == "chatml"


# ------------------------------------------------------------------------------------------------ base model warning

@pytest.mark.parametrize(("template", "tokenizer", "name", "warns"), [
    ("llama3", None, "meta-llama/Meta-Llama-3-8B", True),
    ("llama3", None, "meta-llama/Meta-Llama-3-8B-Instruct", False),
    ("llama3", _Tok("{{ x }}"), "meta-llama/Meta-Llama-3-8B", False),  # tokenizer ships a chat template
    ("gemma", None, "google/gemma-2-9b-it", False),
    ("gemma", None, "google/gemma-2-9b", True),
    ("qwen3", None, "Qwen/Qwen3-8B", False),  # Qwen3 chat models carry no suffix
    ("qwen3", None, "Qwen/Qwen3-8B-Base", True),
    ("empty", None, "meta-llama/Meta-Llama-3-8B", False),  # a plain-text template is right for a base model
    ("default", None, "meta-llama/Meta-Llama-3-8B", False),
    ("chatml", None, "", True),
])
def test_base_model_warning(template, tokenizer, name, warns):
    message = is_base_model_warning(get_template(template), tokenizer, name)
    assert (message is not None) == warns
    if warns:
        assert "base model" in message and template in message
