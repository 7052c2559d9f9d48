"""The bibliography labelled as the text cites: "[Vaswani et al., 2017]", not "[VSP+17]".

sphinxcontrib-bibtex already cites in author-year style (``bibtex_reference_style``); its list of
references takes its labels from a pybtex style, which is alphabetic by default. This registers
a style whose labels are author-year too, with a, b, ... where two works would share one.
"""

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _who(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [" ".join(person.last_names).replace("{", "").replace("}", "") for person in people]
    if len(names) > 2:
        return f"{names[0]} et al."
    return " and ".join(names) or entry.fields.get("title", "?")


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [f"{_who(e)}, {e.fields.get('year', 'n.d.')}" for e in entries]
        repeated, seen = Counter(labels), Counter()
        for label in labels:
            seen[label] += 1
            yield label + (chr(ord("a") + seen[label] - 1) if repeated[label] > 1 else "")


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "author_year_labels"
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", "author_year_labels", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
