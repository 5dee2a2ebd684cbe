from kernel.templatetags.evidence import evidence


def test_evidence_reads_as_words_not_python():
    assert evidence(["public", "official"]) == "public, official"
    assert evidence({"params": 5, "user": None}) == "params: 5; user: (nothing)"
    assert evidence(None) == "(nothing)"
    assert evidence([]) == "(none)"
    assert evidence("<b>") == "<b>"  # escaping is the template's job, and it does it
