"""Issue 11, item 5: `switchboard context FILE:LINE:COL` prints what an inline completion there
would send — every part labelled with where it came from and its token count — and sends nothing."""

from __future__ import annotations

import json

CART = '''class Cart:
    def __init__(self, items, *, currency="EUR"):
        self.items = items


def total_price(cart: Cart, discount: float = 0.0,
                rounding={"mode": "half-even"}) -> float:
    return sum(cart.items) * (1 - discount)
'''

MAIN = '''from shop.cart import Cart, total_price


def checkout(items):
    cart = Cart(items)
    return total_price(
'''


def workspace(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "cart.py").write_text(CART)
    (tmp_path / "shop" / "main.py").write_text(MAIN)
    return tmp_path


def context(run_cli, root, *extra):
    line = MAIN.count("\n")
    col = len("    return total_price(") + 1
    r = run_cli("context", f"shop/main.py:{line}:{col}", "--json", *extra, cwd=root)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_json_lists_labelled_parts_with_the_definer_open(run_cli, tmp_path):
    root = workspace(tmp_path)
    out = context(run_cli, root, "--open", "shop/cart.py")
    assert out["sent"] is False and out["format"] == "instruct"
    kinds = [p["kind"] for p in out["parts"]]
    assert kinds[0] == "header" and kinds[-2:] == ["prefix", "suffix"], kinds
    for p in out["parts"]:
        assert p["source"] and isinstance(p["tokens"], int)
    defs = [p for p in out["parts"] if p["kind"] == "definition"]
    sig = 'def total_price(cart: Cart, discount: float = 0.0,\n                rounding={"mode": "half-even"}) -> float:'
    assert any(sig in p["text"] for p in defs), defs
    callee = next(p for p in defs if sig in p["text"])
    assert callee["source"] == "shop/cart.py:6" and callee["path"] == "shop/cart.py"
    cart = next(p for p in defs if p["text"].startswith("class Cart"))
    assert 'def __init__(self, items, *, currency="EUR"):' in cart["text"]
    # The prompt as sent holds the parts, the code with the cursor marked, paths relative to the root.
    prompt = out["request"]["prompt"]
    assert sig in prompt and prompt.endswith("return total_price(<CURSOR>\n")
    assert "path: shop/main.py\n" in prompt and str(root) not in prompt
    assert out["tokens"] >= sum(p["tokens"] for p in out["parts"]) - len(out["parts"])


def test_text_output_and_fim_formats(run_cli, tmp_path):
    root = workspace(tmp_path)
    line = MAIN.count("\n")
    r = run_cli("context", f"shop/main.py:{line}:24", "--open", "shop/cart.py", cwd=root)
    assert r.returncode == 0, r.stderr
    assert "Nothing was sent." in r.stdout
    assert "── definition · shop/cart.py:6 · " in r.stdout, r.stdout
    assert "── prefix · shop/main.py:1-6 · " in r.stdout, r.stdout

    qwen = context(run_cli, root, "--open", "shop/cart.py", "--format", "qwen2.5-coder")
    prompt = qwen["request"]["prompt"]
    assert prompt.startswith(f"<|repo_name|>{root.name}\n<|file_sep|>shop/cart.py\n"), prompt
    assert prompt.endswith("<|file_sep|>shop/main.py\n<|fim_prefix|>" + MAIN[:-1] + "<|fim_suffix|>\n<|fim_middle|>")

    infill = context(run_cli, root, "--open", "shop/cart.py", "--format", "infill")
    assert infill["request"]["input_extra"][0]["filename"] == "shop/cart.py"
    assert infill["request"]["input_prefix"] == MAIN[:-1]


def test_bad_arguments_fail_cleanly(run_cli, tmp_path):
    root = workspace(tmp_path)
    for args in (["shop/missing.py:1:1"], ["shop/main.py:99:1"], ["shop/main.py:1:1", "--format", "nope"]):
        r = run_cli("context", *args, cwd=root)
        assert r.returncode != 0
        assert "panicked" not in r.stderr and r.stderr.strip(), r.stderr
    r = run_cli("context", "shop/main.py:1:1", "--format", "nope", cwd=root)
    assert "qwen2.5-coder" in r.stderr
