"""Issue 12 (and 9.4): what leaves the machine. Secrets planted in the workspace — fresh random values
every run — never appear in any byte of any upstream request (inline, popup, actions, CLI agents, the
CLI commands), while completions keep working; excluded files send nothing and `local` still
answers; a workspace cannot un-exclude; a key an upstream echoes never reaches the user or the log."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
import sys
from pathlib import Path

import pytest

from fakes import FakeOpenAI, Reply
from test_actions import apply_text_edits, by_title, model_requests, text_edit
from test_cli_agents import AGENT, Agent
from test_inline import insert, wait_gen

PLACEHOLDER = re.compile(r"«redacted:[a-z0-9-]+»")


def rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


class Planted:
    """One set of fresh secrets, in the formats the rules know."""

    def __init__(self):
        self.stripe = "sk_live_" + rand(24)
        self.aws_id = "AKIA" + rand(16, string.ascii_uppercase + string.digits)
        self.aws_secret = rand(40, string.ascii_letters + string.digits + "/+")
        self.github = "ghp_" + rand(36)
        self.openai = "sk-proj-" + rand(40)
        self.password = "pw-" + rand(14)
        self.db_password = rand(16)

    def values(self) -> list[str]:
        return [self.stripe, self.aws_id, self.aws_secret, self.github, self.openai, self.password, self.db_password]

    def source(self) -> str:
        """A Python module with secrets on some lines and an ordinary function to complete."""
        return (
            "import os\n\n"
            f'STRIPE_KEY = "{self.stripe}"\n'
            f'AWS_ACCESS_KEY_ID = "{self.aws_id}"\n'
            f'AWS_SECRET_ACCESS_KEY = "{self.aws_secret}"\n'
            f'GITHUB_TOKEN = "{self.github}"\n'
            f'DATABASE_URL = "postgres://app:{self.db_password}@db:5432/app"\n\n\n'
            "def charge(amount):\n"
            f'    client = Client(api_key="{self.openai}", password="{self.password}")\n'
            "    result = client.charge(amount)\n"
            "    return result\n\n\n"
            "def total(items):\n"
            "    return \n"
        )

    def assert_absent(self, blobs: list[bytes], where: str) -> None:
        assert blobs, f"nothing was sent to {where}: the test would prove nothing"
        for blob in blobs:
            for value in self.values():
                assert value.encode() not in blob, f"a planted secret reached {where}"


TOTAL_LINE = 16  # 0-based line of "    return " in Planted.source()


def bodies(fake) -> list[bytes]:
    return [r.body + r.path.encode() for r in fake.requests]


def openai_env(fake) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key}


def anthropic_env(fake) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": fake.api_key}


# -- inline and popup ---------------------------------------------------------------------------

async def test_inline_sends_no_planted_secret_and_still_completes(launch, fake_openai):
    p = Planted()
    fake_openai.script(Reply.text("sum(i.price for i in items)"))
    lsp = await launch(env=openai_env(fake_openai))
    # Another open file with a secret: its symbols may be context, its secret may not.
    lsp.open("settings.py", f'SLACK_TOKEN = "xoxb-{rand(12, string.digits)}-{rand(24)}"\ndef load():\n    pass\n',
             language_id="python")
    uri = lsp.open("billing.py", p.source(), language_id="python")
    items = await lsp.inline(uri, TOTAL_LINE, 11)
    assert [i.insert_text for i in items] == ["sum(i.price for i in items)"], "ghost text despite the secrets"
    # Typing-through still works: the rest comes from memory, no second request.
    insert(lsp, uri, TOTAL_LINE, 11, "sum(")
    items = await lsp.inline(uri, TOTAL_LINE, 15)
    assert [i.insert_text for i in items] == ["i.price for i in items)"]
    await asyncio.sleep(0.1)
    assert len(fake_openai.generation_requests) == 1
    p.assert_absent(bodies(fake_openai), "the inline provider")
    sent = fake_openai.generation_requests[0].body.decode()
    assert len(PLACEHOLDER.findall(sent)) >= 7, sent
    assert "def total(items)" in sent, "the code around the cursor still goes"


async def test_bare_service_tokens_are_known_by_their_prefixes(launch, fake_openai):
    """Tokens passed straight to a call, with no name saying key or token: only their formats
    give them away."""
    hexdigits = "0123456789abcdef"
    tokens = ["npm_" + rand(36), "hf_" + rand(34), "SG." + rand(22) + "." + rand(43), "glpat-" + rand(20),
              "GOCSPX-" + rand(28), "dop_v1_" + rand(64, hexdigits), "shpat_" + rand(32, hexdigits),
              "SK" + rand(32, hexdigits), "gsk_" + rand(52), "lin_api_" + rand(40)]
    azure = rand(86) + "=="
    lines = [f'    c{i} = connect("{t}")\n' for i, t in enumerate(tokens)]
    lines.append(f'    blob = connect("DefaultEndpointsProtocol=https;AccountName=a;AccountKey={azure};")\n')
    tokens.append(azure)
    source = "def clients():\n" + "".join(lines) + "    return \n"
    fake_openai.script(Reply.text("[c0, c1]"))
    lsp = await launch(env=openai_env(fake_openai))
    uri = lsp.open("clients.py", source, language_id="python")
    items = await lsp.inline(uri, len(tokens) + 1, 11)
    assert [i.insert_text for i in items] == ["[c0, c1]"]
    sent = fake_openai.generation_requests[0].body
    for t in tokens:
        assert t.encode() not in sent, f"{t[:8]}... reached the inline provider"
    assert len(PLACEHOLDER.findall(sent.decode())) >= len(tokens)


async def test_popup_sends_no_planted_secret(launch, fake_openai):
    p = Planted()
    fake_openai.script(Reply.text("sum(items)"))
    lsp = await launch(env=openai_env(fake_openai))
    uri = lsp.open("billing.py", p.source(), language_id="python")
    items = await lsp.completion(uri, TOTAL_LINE, 11)
    assert any("sum(items)" in (i.insert_text or i.label) for i in items), [i.label for i in items]
    p.assert_absent(bodies(fake_openai), "the popup's provider")


async def test_placeholders_are_stable_across_keystrokes(launch, fake_openai):
    p = Planted()
    fake_openai.script(Reply.text("len(items)"), Reply.text("0"))
    lsp = await launch(env=openai_env(fake_openai))
    uri = lsp.open("billing.py", p.source(), language_id="python")
    await lsp.inline(uri, TOTAL_LINE, 11)
    insert(lsp, uri, TOTAL_LINE, 11, "x ")
    await lsp.inline(uri, TOTAL_LINE, 13)
    first, second = (json.loads(r.body) for r in await wait_gen(fake_openai, 2))
    assert PLACEHOLDER.findall(json.dumps(first, ensure_ascii=False)) == \
        PLACEHOLDER.findall(json.dumps(second, ensure_ascii=False)), "same secret, same placeholder"
    assert first["prompt_cache_key"] == second["prompt_cache_key"]


async def test_a_placeholder_in_the_answer_never_reaches_the_buffer(launch, fake_openai):
    p = Planted()
    lsp = await launch(env=openai_env(fake_openai))
    src = p.source().replace("    return \n", "    token = \n")
    uri = lsp.open("billing.py", src, language_id="python")
    # The model answers with a placeholder of another file (or one it made up): refused.
    fake_openai.script(Reply.text('"«redacted:github-token-77»"'))
    assert await lsp.inline(uri, TOTAL_LINE, 12) == []
    # With its own file's placeholder (learnt from the request): the original comes back.
    fake_openai.script(Reply.text("x"))
    insert(lsp, uri, TOTAL_LINE, 12, "G")
    await lsp.inline(uri, TOTAL_LINE, 13)
    sent = (await wait_gen(fake_openai, 2))[-1].body.decode()
    github = next(m for m in PLACEHOLDER.findall(sent) if "github-token" in m)
    fake_openai.script(Reply.text(f"ITHUB_TOKEN or {github}"))
    insert(lsp, uri, TOTAL_LINE, 13, "\n")
    items = await lsp.inline(uri, TOTAL_LINE, 13)
    assert items and "«" not in items[0].insert_text
    assert items[0].insert_text.endswith(p.github), items[0].insert_text


# -- exclusion ----------------------------------------------------------------------------------

async def test_excluded_files_send_nothing_and_local_still_answers(launch, fake_openai):
    p = Planted()
    lsp = await launch(env=openai_env(fake_openai),
                       workspace_files={".switchboardignore": "private/\n", "private/.keep": ""})
    env_uri = lsp.open(".env", f"OPENAI_API_KEY={p.openai}\nDB_PASSWORD={p.db_password}\n", language_id="dotenv")
    notes = lsp.open("private/notes.py", "def compute_total(items):\n    return 0\n\ncomp", language_id="python")
    pem = lsp.open("certs/server.pem", "-----BEGIN PRIVATE KEY-----\n" + rand(64) + "\n", language_id="plaintext")
    assert await lsp.inline(env_uri, 1, 12) == []
    items = await lsp.inline(notes, 3, 4)
    assert [i.insert_text for i in items] == ["compute_total"], "local answers in an excluded file"
    assert items[0].command.arguments[0]["provider"] == "local"
    await lsp.inline(pem, 1, 10)
    await lsp.completion(notes, 3, 4)
    await asyncio.sleep(0.2)
    assert fake_openai.generation_requests == [], "an excluded file sends nothing"
    # Nor as context of another file.
    fake_openai.script(Reply.text("sum(items)"))
    other = lsp.open("app.py", "from private.notes import compute_total\n\ndef f(items):\n    return \n",
                     language_id="python")
    assert await lsp.inline(other, 3, 11)
    blob = b"".join(bodies(fake_openai))
    assert b"compute_total(items):\n    return 0" not in blob and p.openai.encode() not in blob
    assert b"DB_PASSWORD" not in blob
    report = await lsp.execute("switchboard.doctor", [])
    assert "excluded: .env matches the built-in secret pattern" in report, report
    assert "private/notes.py is excluded by `private/` in .switchboardignore" in report, report


async def test_actions_in_an_excluded_file_explain_why_nothing_is_sent(launch, fake_anthropic):
    s = await launch(env=anthropic_env(fake_anthropic), workspace_files={".switchboardignore": "vault/\n"})
    uri = s.open("vault/keys.py", "def load():\n    return open('k').read()\n", language_id="python")
    sel = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 10}}
    with pytest.raises(Exception) as err:
        await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": sel}])
    assert "not sent: vault/keys.py is excluded" in str(err.value)
    msg = await s.wait_for_message(lambda m: "not sent" in m.message)
    assert "never leaves this machine" in msg.message
    assert fake_anthropic.generation_requests == []


async def test_a_workspace_cannot_un_exclude(launch, fake_openai):
    user = '[privacy]\nexclude = ["*.secret.py"]\n'
    ws = {
        "switchboard.toml": '[privacy]\nexclude = ["!*.secret.py", "!.env"]\nredact = false\n[log]\nprompts = true\n',
        ".switchboardignore": "!.env\n!*.secret.py\n",
    }
    lsp = await launch(env=openai_env(fake_openai), user_config=user, workspace_files=ws)
    await lsp.wait_for_message(lambda m: "privacy.redact" in m.message and "not trusted" in m.message)
    a = lsp.open("db.secret.py", "def compute_total():\n    pass\n\ncomp", language_id="python")
    b = lsp.open(".env", "compute_total=1\ncomp", language_id="dotenv")
    await lsp.inline(a, 3, 4)
    await lsp.inline(b, 1, 4)
    await asyncio.sleep(0.2)
    assert fake_openai.generation_requests == []
    # And redaction stays on: the untrusted `redact = false` was ignored.
    p = Planted()
    fake_openai.script(Reply.text("0"))
    c = lsp.open("billing.py", p.source(), language_id="python")
    await lsp.inline(c, TOTAL_LINE, 11)
    p.assert_absent(bodies(fake_openai), "the inline provider")
    assert "prompt (as sent" not in lsp.log(), "an untrusted workspace cannot turn on prompt logging"


async def test_local_only_paths_are_answered_by_local(launch, fake_openai):
    lsp = await launch(env=openai_env(fake_openai), user_config='[privacy]\nlocal_only = ["confidential/**"]\n')
    uri = lsp.open("confidential/plan.py", "def compute_total():\n    pass\n\ncomp", language_id="python")
    items = await lsp.inline(uri, 3, 4)
    assert [i.insert_text for i in items] == ["compute_total"]
    await asyncio.sleep(0.2)
    assert fake_openai.generation_requests == []
    report = await lsp.execute("switchboard.doctor", [])
    assert "local-only: confidential/plan.py matches `confidential/**`" in report, report


# -- actions ------------------------------------------------------------------------------------

CHARGE = {"start": {"line": 11, "character": 4}, "end": {"line": 11, "character": 4}}


async def test_explain_and_refactor_send_no_secret_and_edits_get_them_back(launch, fake_anthropic):
    p = Planted()
    fake_anthropic.script(Reply.text("It charges the card."))
    s = await launch(env=anthropic_env(fake_anthropic))
    src = p.source()
    uri = s.open("billing.py", src, language_id="python")
    result = await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": CHARGE}])
    assert result["text"] == "It charges the card."
    (explain_req,) = await model_requests(fake_anthropic, 1)
    sent = explain_req.body.decode()
    own = {m.split(":")[1].rsplit("-", 1)[0]: m for m in PLACEHOLDER.findall(sent)}
    assert "openai-key" in own, sent
    # The refactor's answer keeps the key as the placeholder the model saw: the edit restores it.
    answer = ("```python\ndef charge(amount):\n"
              f'    client = Client(api_key="{own["openai-key"]}", password="{own["secret-assignment"]}")\n'
              "    return client.charge(amount)\n```")
    fake_anthropic.script(Reply.text(answer))
    actions = await s.code_actions(uri, CHARGE)
    tde = text_edit(await s.resolve(by_title(actions, "Switchboard: Refactor")))
    after = apply_text_edits(src, tde["edits"], s.encoding)
    assert "«" not in after
    assert f'Client(api_key="{p.openai}", password="{p.password}")\n    return client.charge(amount)' in after
    p.assert_absent(bodies(fake_anthropic), "Claude")


async def test_an_edit_with_a_foreign_placeholder_changes_nothing(launch, fake_anthropic):
    p = Planted()
    s = await launch(env=anthropic_env(fake_anthropic))
    uri = s.open("billing.py", p.source(), language_id="python")
    fake_anthropic.script(Reply.text('```python\ndef charge(amount):\n    return "«redacted:stripe-key-99»"\n```'))
    actions = await s.code_actions(uri, CHARGE)
    with pytest.raises(Exception) as err:
        await s.resolve(by_title(actions, "Switchboard: Refactor"))
    assert "redacted from another file" in str(err.value)
    assert (await s.document_text(uri))["text"] == p.source()
    assert s.applied_edits == []


async def test_cli_agent_gets_no_secret(launch, tmp_path):
    p = Planted()
    agent = Agent(tmp_path)
    agent.plan({"text": "It charges the card.", "chunks": 2})
    cmd = json.dumps([sys.executable, str(AGENT)])
    cfg = (f'[providers.claude-code]\nkind = "claude-cli"\nmodel = "claude-sonnet-5-5"\ncommand = {cmd}\n'
           'pass_env = ["FAKE_AGENT_DIR"]\n[routes]\nexplain = ["claude-code"]\n')
    s = await launch(env={"FAKE_AGENT_DIR": str(agent.dir)}, user_config=cfg)
    uri = s.open("billing.py", p.source(), language_id="python")
    await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": CHARGE}])
    (call,) = agent.calls()
    p.assert_absent([json.dumps(call).encode(), call["stdin"].encode()], "the CLI agent")
    assert "def charge(amount)" in call["stdin"]


async def test_cli_agent_stderr_echoing_a_key_is_scrubbed(launch, tmp_path):
    leaked = "sk-ant-api03-" + rand(40)
    agent = Agent(tmp_path)
    agent.plan({"crash": f"Invalid API key: {leaked} · Please run /login"})
    cmd = json.dumps([sys.executable, str(AGENT)])
    cfg = (f'[providers.claude-code]\nkind = "claude-cli"\nmodel = "m"\ncommand = {cmd}\n'
           'pass_env = ["FAKE_AGENT_DIR"]\n[routes]\nexplain = ["claude-code"]\n')
    s = await launch(env={"FAKE_AGENT_DIR": str(agent.dir)}, user_config=cfg)
    uri = s.open("a.py", "def f():\n    return 1\n", language_id="python")
    inside = {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}}
    with pytest.raises(Exception) as err:
        await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": inside}])
    assert "Please run /login" in str(err.value)
    assert leaked not in str(err.value)
    await s.wait_for_message(lambda m: "Please run /login" in m.message)
    assert all(leaked not in m.message for m in s.messages)
    assert leaked not in s.log()


# -- keys echoed by an upstream (issue 9.4) -------------------------------------------------------

async def test_a_401_echoing_the_key_never_reaches_the_user_or_the_log(launch):
    key = "sk-proj-" + rand(48)
    async with FakeOpenAI(api_key=key) as fake:
        body = {"error": {"message": f"Incorrect API key provided: {key}. You can find your API key at "
                                     "https://platform.openai.com/account/api-keys.",
                          "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
        fake.script(Reply.json(401, body))
        lsp = await launch(env=openai_env(fake))
        uri = lsp.open("a.py", "def compute_total():\n    pass\n\ncomp", language_id="python")
        await lsp.inline(uri, 3, 4)
        msg = await lsp.wait_for_message(lambda m: "key was rejected" in m.message)
        assert "Incorrect API key provided: «redacted:api-key»" in msg.message, msg.message
        report = await lsp.execute("switchboard.doctor", [])
        await lsp.shutdown()
        seen = [m.message for m in lsp.messages] + [m.message for m in lsp.client.log_messages] + [report]
        for text in seen + [lsp.log()]:
            assert key not in text
            assert key[8:30] not in text


# -- the CLI commands ---------------------------------------------------------------------------

async def test_cli_complete_and_action_send_no_secret(run_cli, fake_openai, fake_anthropic, tmp_path):
    p = Planted()
    f = tmp_path / "billing.py"
    f.write_text(p.source())
    fake_openai.script(Reply.text("sum(items)"))
    env = {**openai_env(fake_openai), **anthropic_env(fake_anthropic)}
    r = await asyncio.to_thread(run_cli, "complete", f"{f}:{TOTAL_LINE + 1}:12", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "sum(items)"
    p.assert_absent(bodies(fake_openai), "`switchboard complete`")

    fake_anthropic.script(Reply.text("It charges."))
    r = await asyncio.to_thread(run_cli, "action", "explain", f"{f}:12", env=env)
    assert r.returncode == 0, r.stderr
    p.assert_absent(bodies(fake_anthropic), "`switchboard action`")

    secret_file = tmp_path / ".env"
    secret_file.write_text(f"OPENAI_API_KEY={p.openai}\n")
    before = len(fake_anthropic.requests)
    r = await asyncio.to_thread(run_cli, "action", "explain", f"{secret_file}:1", env=env, cwd=tmp_path)
    assert r.returncode != 0 and "not sent" in r.stderr, r.stderr
    assert len(fake_anthropic.requests) == before
