"""The documentation in three languages says the same things, its links lead somewhere, and each README stays
what a newcomer reads first.

Every translated document — the README and each page of ``docs/``, of this repository and of a generated
project — exists in English, Traditional Chinese and Simplified Chinese. A translation may say anything in its
own words, but every command, make target, route, file name and figure of the English text must appear in it:
each inline code span, each command line of a code block (its trailing ``# comment`` may be translated) and each
number. Generated documents are checked as several option sets render them, and with each language chosen as
the one under the plain names.
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
LANGUAGES = ("en", "zh-Hant", "zh-Hans")
TRANSLATIONS = ("zh-Hant", "zh-Hans")
NAMES = {"en": "English", "zh-Hant": "繁體中文", "zh-Hans": "简体中文"}
OPTION_SETS = [
    {},
    {"role": "pai-default", "workspace_id": "123456", "oss": False, "maxcompute_sql": True},
    {"role": "none", "oss": False, "maxcompute": False, "ci": "none"},
]
OPTION_IDS = ["default", "pai-default-sql", "no-role-no-ci"]
# What a newcomer reads first: about 150 lines a language, never more than this.
README_LINE_LIMIT = 170
# The commands of the projects baked before the dev kit; only the pages on updating such a project name them.
OLD_COMMANDS = ("python -m local_eas", "python -m eas_deploy", "python -m bench")
UPDATING_PAGES = ("updating",)


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


def stems(root: Path, chosen: str = "en") -> list[str]:
    """The translated documents under ``root``: ``README`` and ``docs/<page>``, by their plain names."""
    plain = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [str(path.relative_to(root).with_suffix("")) for path in plain if "." not in path.stem]


def file_in(root: Path, stem: str, language: str, chosen: str = "en") -> Path:
    return root / (f"{stem}.md" if language == chosen else f"{stem}.{language}.md")


def language_of(document: Path, chosen: str) -> str:
    suffix = document.stem.rpartition(".")[2] if "." in document.stem else None
    return suffix if suffix in LANGUAGES else chosen


def language_line(text: str) -> str:
    """The second paragraph, right under the title: the links to the other languages."""
    return text.split("\n\n", 3)[1]


def check_translations(root: Path, chosen: str = "en") -> list[str]:
    problems = []
    for stem in stems(root, chosen):
        english = file_in(root, stem, "en", chosen).read_text(encoding="utf-8")
        for language in TRANSLATIONS:
            translation = file_in(root, stem, language, chosen)
            if not translation.exists():
                problems.append(f"{translation.relative_to(root)} does not exist")
                continue
            lost = missing(english, translation.read_text(encoding="utf-8"))
            if lost:
                problems.append(f"{translation.relative_to(root)} lacks {lost}")
    return problems


def check_links(root: Path, documents: list[Path], chosen: str = "en") -> list[str]:
    """Every relative link leads to a file; below the language line, a translated document links to the
    translated documents of its own language."""
    translated = {file_in(root, stem, language, chosen).resolve(): language
                  for stem in stems(root, chosen) for language in LANGUAGES}
    problems = []
    for document in documents:
        text = document.read_text(encoding="utf-8")
        own = translated.get(document.resolve())
        body = text.split("\n\n", 2)[2] if own else text
        for target in LINK.findall(text):
            if "://" in target:
                continue
            path = (document.parent / target).resolve()
            if not path.exists():
                problems.append(f"{document.relative_to(root)} → {target}: no such file")
        for target in LINK.findall(body):
            language = translated.get((document.parent / target).resolve()) if "://" not in target else None
            if own and language and language != own:
                problems.append(f"{document.relative_to(root)} ({own}) → {target} ({language})")
    return problems


def readme_lengths(root: Path) -> dict[str, int]:
    return {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in root.glob("README*.md")}


# The template's own documents.

def test_the_template_translations_keep_every_command_and_figure():
    assert len(stems(TEMPLATE)) > 1  # the README and the docs/ pages
    assert check_translations(TEMPLATE) == []


def test_every_template_document_links_to_its_other_languages():
    for stem in stems(TEMPLATE):
        for language in LANGUAGES:
            text = file_in(TEMPLATE, stem, language).read_text(encoding="utf-8")
            assert f"**{NAMES[language]}**" in language_line(text), f"{stem} ({language})"
            for other in set(LANGUAGES) - {language}:
                target = file_in(TEMPLATE, stem, other).name
                assert f"[{NAMES[other]}]({target})" in language_line(text), f"{stem} ({language}) → {other}"


def test_every_relative_link_of_the_template_documents_leads_to_a_file_of_the_same_language():
    documents = [*TEMPLATE.glob("README*.md"), *TEMPLATE.glob("docs/*.md"), TEMPLATE / "eas-devkit" / "README.md"]
    assert check_links(TEMPLATE, documents) == []


def pages_not_linked_from_the_readme(root: Path) -> list[str]:
    """Each page of docs/ that a language's README does not link to its version in that language."""
    missing = []
    for language in LANGUAGES:
        readme = file_in(root, "README", language)
        links = {(readme.parent / target).resolve() for target in LINK.findall(readme.read_text(encoding="utf-8"))}
        missing += [f"{readme.name} → {stem}" for stem in stems(root)
                    if stem != "README" and file_in(root, stem, language).resolve() not in links]
    return missing


def test_the_template_readme_links_every_page_and_fits_what_a_newcomer_reads():
    assert pages_not_linked_from_the_readme(TEMPLATE) == []
    assert all(count <= README_LINE_LIMIT for count in readme_lengths(TEMPLATE).values()), readme_lengths(TEMPLATE)


# The generated project's documents.

@pytest.mark.parametrize("answers", OPTION_SETS, ids=OPTION_IDS)
def test_the_generated_translations_keep_every_command_and_figure(bake, answers):
    project = bake(**answers).path
    assert {"README", "docs/workshop"} <= set(stems(project))
    assert check_translations(project) == []
    for document in [*project.glob("README*.md"), *project.glob("docs/*.md")]:  # rendered, not copied as binary
        text = document.read_text(encoding="utf-8")
        assert "{{" not in text and "{%" not in text and "{#" not in text, document.name


@pytest.mark.parametrize("chosen", LANGUAGES)
def test_docs_language_picks_the_plain_names_and_every_version_links_to_the_others(bake, chosen):
    project = bake(docs_language=chosen).path
    pages = stems(project, chosen)
    assert len(pages) > 2, pages
    for stem in pages:
        plain = file_in(project, stem, chosen, chosen)
        assert f"**{NAMES[chosen]}**" in language_line(plain.read_text(encoding="utf-8")), plain.name
        for language in LANGUAGES:
            document = file_in(project, stem, language, chosen)
            text = document.read_text(encoding="utf-8")
            for other in set(LANGUAGES) - {language}:
                target = file_in(project, stem, other, chosen).name
                assert f"[{NAMES[other]}]({target})" in language_line(text), f"{document.name} → {other}"
        assert not file_in(project, stem, chosen, "en").exists() or chosen == "en"  # no README.<chosen>.md left


@pytest.mark.parametrize("chosen", LANGUAGES)
def test_every_relative_link_of_the_generated_documents_leads_to_a_file_of_the_same_language(bake, chosen):
    project = bake(docs_language=chosen).path
    documents = [*project.glob("README*.md"), *project.glob("docs/*.md"), *project.glob("examples/*.md"),
                 *project.glob("ram/*.md")]
    assert check_links(project, documents, chosen) == []


@pytest.mark.parametrize("answers", [*OPTION_SETS, {"maxcompute_sql": True}],
                         ids=[*OPTION_IDS, "everything"])
def test_the_generated_readme_links_every_page_and_fits_what_a_newcomer_reads(bake, answers):
    project = bake(**answers).path
    assert pages_not_linked_from_the_readme(project) == []
    lengths = readme_lengths(project)
    assert set(lengths) == {"README.md", "README.zh-Hant.md", "README.zh-Hans.md"}
    assert all(count <= README_LINE_LIMIT for count in lengths.values()), lengths


@pytest.mark.parametrize("answers", OPTION_SETS, ids=OPTION_IDS)
def test_no_document_a_user_gets_uses_an_internal_word_or_a_command_that_is_gone(bake, answers):
    project = bake(**answers).path
    roots = {TEMPLATE: [*TEMPLATE.glob("README*.md"), *TEMPLATE.glob("docs/*.md"), TEMPLATE / "eas-devkit/README.md"],
             project: [*project.glob("**/*.md")]}
    for root, documents in roots.items():
        for document in documents:
            text = document.read_text(encoding="utf-8")
            assert not re.search(r"\bseed", text, re.IGNORECASE), document.relative_to(root)
            if document.name.split(".")[0] not in UPDATING_PAGES:
                for command in OLD_COMMANDS:
                    assert command not in text, f"{document.relative_to(root)}: {command}"


# The checks themselves.

def test_the_facts_check_fails_when_a_translation_drops_a_command():
    english = "Run `make dev`, then:\n\n```sh\nmake deploy   # uploads\n```\n\n10,000 requests."
    assert missing(english, "執行 `make dev`：\n\n```sh\nmake deploy   # 上傳\n```\n\n10,000 個請求。") == []
    assert missing(english, "執行 `make dev`：\n\n```sh\nmake test\n```\n\n10,000 個請求。") == ["make deploy"]
    assert missing(english, "執行 `make dev`，`make deploy`。1 萬個請求。") == ["10,000"]


def test_the_link_check_fails_on_a_missing_file_and_on_a_link_to_another_language(tmp_path):
    (tmp_path / "docs").mkdir()
    header = "# T\n\n**English** · [繁體中文](X.zh-Hant.md) · [简体中文](X.zh-Hans.md)\n\n"
    for language in LANGUAGES:
        suffix = "" if language == "en" else f".{language}"
        (tmp_path / f"README{suffix}.md").write_text(header.replace("X", "README") + "[p](docs/page.md)\n")
        (tmp_path / "docs" / f"page{suffix}.md").write_text(header.replace("X", "page") + "[r](../README.md)\n")
    documents = sorted(tmp_path.glob("**/*.md"))
    problems = check_links(tmp_path, documents)
    assert "README.zh-Hant.md (zh-Hant) → docs/page.md (en)" in problems
    assert "docs/page.zh-Hans.md (zh-Hans) → ../README.md (en)" in problems
    assert not any("README.md (en)" in problem.split(" → ")[0] for problem in problems)
    (tmp_path / "docs" / "page.md").write_text(header.replace("X", "page") + "[gone](gone.md)\n")
    assert "docs/page.md → gone.md: no such file" in check_links(tmp_path, documents)
