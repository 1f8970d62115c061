"""Checks an edited training script against its previous version.

Usage: verify_script.py OLD NEW. Prints one JSON object:
{"ok": bool, "problems": [str], "probe": bool}. Standard library only.
"""

import ast
import json
import sys


def top_level_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    return names


def uses_probe(tree):
    imported = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "autoresearch_probe" for a in node.names):
            imported = True
        if isinstance(node, ast.ImportFrom) and node.module == "autoresearch_probe":
            imported = True
    if not imported:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "track":
                return True
    return False


def main():
    old_path, new_path = sys.argv[1], sys.argv[2]
    problems = []
    with open(new_path, encoding="utf-8") as f:
        new_source = f.read()
    try:
        new_tree = ast.parse(new_source, filename=new_path)
        compile(new_source, new_path, "exec")
    except SyntaxError as err:
        print(json.dumps({"ok": False, "probe": False,
                          "problems": ["the script does not compile: %s (line %s)" % (err.msg, err.lineno)]}))
        return
    try:
        with open(old_path, encoding="utf-8") as f:
            old_tree = ast.parse(f.read(), filename=old_path)
        missing = sorted(top_level_names(old_tree) - top_level_names(new_tree))
        if missing:
            problems.append("top-level names were removed: " + ", ".join(missing))
    except (OSError, SyntaxError):
        pass
    probe = uses_probe(new_tree)
    print(json.dumps({"ok": not problems, "probe": probe, "problems": problems}))


if __name__ == "__main__":
    main()
