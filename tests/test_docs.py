"""The documentation in three languages says the same things, and its links lead somewhere.

A translation may say anything in its own words, but every command, make target, route, file name and figure
of the English text must appear in it: each inline code span, each command line of a code block (its trailing
``# comment`` may be translated) and each number. The generated README is checked as several option sets
render it, and with each language chosen as README.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TEMPLATE

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`]+)`")  # a span may wrap across lines, as Markdown allows
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
COMMENT = re.compile(r"\s+#\s.*$")
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
TRANSLATIONS = ("zh-Hant", "zh-Hans")
NAMES = {"en": "English", "zh-Hant": "繁體中文", "zh-Hans": "简体中文"}
OPTION_SETS = [
    {},
    {"role": "pai-default", "workspace_id": "123456", "oss": False, "maxcompute_sql": True},
    {"role": "none", "oss": False, "maxcompute": False},
]


def facts(markdown: str) -> set[str]:
    """What a translation must keep: code spans, command lines of code blocks, numbers."""
    found: set[str] = set()
    for block in FENCE.findall(markdown):
        for line in block.splitlines():
            command = COMMENT.sub("", line).strip()
            if command and not command.startswith("#"):
                found.add(command)
    prose = FENCE.sub("", markdown)
    found.update(" ".join(span.split()) for span in CODE_SPAN.findall(prose))
    found.update(NUMBER.findall(prose))
    return found


def missing(english: str, translation: str) -> list[str]:
    kept = facts(translation)
    flat = " ".join(translation.split())
    return sorted(fact for fact in facts(english) if fact not in kept and " ".join(fact.split()) not in flat)


def file_in(project: Path, stem: str, language: str, chosen: str) -> Path:
    return project / (f"{stem}.md" if language == chosen else f"{stem}.{language}.md")


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_the_template_readme_translations_keep_every_command_and_figure(language):
    english = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    translation = (TEMPLATE / f"README.{language}.md").read_text(encoding="utf-8")
    assert missing(english, translation) == []


@pytest.mark.parametrize("answers", OPTION_SETS, ids=["default", "pai-default-sql", "no-role"])
@pytest.mark.parametrize("language", TRANSLATIONS)
def test_the_generated_readme_and_lab_translations_keep_every_command_and_figure(bake, answers, language):
    project = bake(**answers).path
    for stem in ("README", "docs/workshop"):
        english = file_in(project, stem, "en", "en").read_text(encoding="utf-8")
        translation = file_in(project, stem, language, "en").read_text(encoding="utf-8")
        assert missing(english, translation) == [], f"{stem}.{language}.md"


@pytest.mark.parametrize("chosen", ["en", *TRANSLATIONS])
def test_docs_language_picks_readme_md_and_every_version_links_to_the_others(bake, chosen):
    project = bake(docs_language=chosen).path
    for stem in ("README", "docs/workshop"):
        first_lines = file_in(project, stem, chosen, chosen).read_text(encoding="utf-8")[:600]
        assert f"**{NAMES[chosen]}**" in first_lines  # README.md is in the chosen language
        for language in NAMES:
            document = file_in(project, stem, language, chosen)
            text = document.read_text(encoding="utf-8")
            for other in set(NAMES) - {language}:
                target = file_in(project, stem, other, chosen).name
                assert f"[{NAMES[other]}]({target})" in text.split("\n\n", 3)[1], f"{document.name} → {other}"
    assert not (project / f"README.{chosen}.md").exists()


@pytest.mark.parametrize("chosen", ["en", "zh-Hant"])
def test_every_relative_link_of_the_docs_leads_to_a_file(bake, chosen):
    project = bake(docs_language=chosen).path
    documents = [*project.glob("README*.md"), *project.glob("docs/*.md"), *project.glob("examples/*.md")]
    for document in documents:
        for target in LINK.findall(document.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (document.parent / target).exists(), f"{document.relative_to(project)} → {target}"
    for document in (TEMPLATE / name for name in ("README.md", *(f"README.{t}.md" for t in TRANSLATIONS))):
        for target in LINK.findall(document.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (TEMPLATE / target).exists(), f"{document.name} → {target}"


def test_the_facts_check_fails_when_a_translation_drops_a_command():
    english = "Run `make dev`, then:\n\n```sh\nmake deploy   # uploads\n```\n\n10,000 requests."
    assert missing(english, "執行 `make dev`：\n\n```sh\nmake deploy   # 上傳\n```\n\n10,000 個請求。") == []
    assert missing(english, "執行 `make dev`：\n\n```sh\nmake test\n```\n\n10,000 個請求。") == ["make deploy"]
    assert missing(english, "執行 `make dev`，`make deploy`。1 萬個請求。") == ["10,000"]
