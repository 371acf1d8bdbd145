"""The PDF rendering of a signed report (fpdf2; PDF 1.4, A4), stored in the study as DICOM.

The page carries the clinic and the report title, the animal (name, species, breed, sex, owner,
Patient ID), the study (date, modality, accession number, description), the findings, conclusion
and recommendations, the signer and the signing time (and, for an amendment, its version and
reason). Text is drawn with DejaVu Sans when the host has it (any language), else with the PDF core
font Helvetica, which is Latin-1 only: other characters are transliterated (``é`` stays, ``Ł`` ->
``L``, ``ж`` -> ``?``) so no text can fail the rendering.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

# Where Debian, Ubuntu, Fedora and Homebrew put DejaVu Sans (the first found is used).
UNICODE_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"),
    Path("/opt/homebrew/share/fonts/DejaVuSans.ttf"),
)


@dataclass(frozen=True)
class ReportDocument:
    """Everything printed on a report PDF."""

    clinic: str
    title: str
    animal_name: str = ""
    species: str = ""
    breed: str = ""
    sex: str = ""
    owner: str = ""
    patient_id: str = ""
    study_date: str = ""  # YYYY-MM-DD
    modality: str = ""
    accession_number: str = ""
    study_description: str = ""
    findings: str = ""
    conclusion: str = ""
    recommendations: str = ""
    signed_by: str = ""
    signed_at: datetime | None = None  # clinic local time
    version: int = 1
    amendment_reason: str = ""
    report_id: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def unicode_font() -> Path | None:
    """The DejaVu Sans file of this host, or None (then Helvetica, Latin-1 only)."""
    return next((p for p in UNICODE_FONTS if p.is_file()), None)


_FALLBACK = {
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u0152": "OE",
    "\u0153": "oe",
    "\u2013": "-",
    "\u2014": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2022": "*",
    "\u2026": "...",
    "\u20ac": "EUR",
}


def latin1(text: str) -> str:
    """``text`` with every character outside Latin-1 transliterated (accents dropped) or ``?``."""
    out = []
    for ch in text:
        if ord(ch) < 256:
            out.append(ch)
            continue
        base = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
        out.append(base if base.strip() else _FALLBACK.get(ch, "?"))
    return "".join(out)


class _Pdf(FPDF):
    def __init__(self, font: Path | None) -> None:
        super().__init__(format="A4")
        self.unicode = font is not None
        if font is not None:
            self.add_font("Body", "", str(font))
            self.family_name = "Body"
        else:
            self.family_name = "Helvetica"

    def text_of(self, value: str) -> str:
        clean = value.replace("\r\n", "\n").replace("\t", "    ")
        return clean if self.unicode else latin1(clean)

    def style(self, size: float, bold: bool = False) -> None:
        # The unicode font has one face; bold is drawn as a slightly larger size there.
        if self.unicode:
            self.set_font(self.family_name, "", size + (0.5 if bold else 0))
        else:
            self.set_font(self.family_name, "B" if bold else "", size)


def render_pdf(doc: ReportDocument, *, unicode: bool = True) -> bytes:
    """The report as PDF bytes (``%PDF-`` ...); ``unicode=False`` uses the Latin-1 core font only."""
    pdf = _Pdf(unicode_font() if unicode else None)
    pdf.set_title(pdf.text_of(doc.title or "Imaging report"))
    pdf.set_author(pdf.text_of(doc.signed_by))
    pdf.set_creator("VetPACS")
    if doc.signed_at is not None:
        pdf.set_creation_date(doc.signed_at.astimezone())
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    width = pdf.epw

    pdf.style(10)
    pdf.cell(width, 6, pdf.text_of(doc.clinic), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.style(16, bold=True)
    pdf.multi_cell(width, 8, pdf.text_of(doc.title or "Imaging report"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)

    def rows(pairs: list[tuple[str, str]]) -> None:
        for label, value in pairs:
            if not value:
                continue
            pdf.style(9, bold=True)
            pdf.cell(38, 5, pdf.text_of(label))
            pdf.style(9)
            pdf.multi_cell(width - 38, 5, pdf.text_of(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    rows(
        [
            ("Animal", doc.animal_name),
            ("Species", doc.species),
            ("Breed", doc.breed),
            ("Sex", doc.sex),
            ("Owner", doc.owner),
            ("Patient ID", doc.patient_id),
        ]
    )
    pdf.ln(2)
    rows(
        [
            ("Study date", doc.study_date),
            ("Modality", doc.modality),
            ("Accession number", doc.accession_number),
            ("Study", doc.study_description),
            *doc.extra.items(),
        ]
    )
    pdf.ln(3)
    for heading, body in (
        ("Findings", doc.findings),
        ("Conclusion", doc.conclusion),
        ("Recommendations", doc.recommendations),
    ):
        if not body.strip():
            continue
        pdf.style(11, bold=True)
        pdf.cell(width, 7, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.style(10)
        pdf.multi_cell(width, 5, pdf.text_of(body), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)

    pdf.ln(4)
    pdf.style(9)
    when = doc.signed_at.strftime("%Y-%m-%d %H:%M") if doc.signed_at else ""
    signed = f"Signed by {doc.signed_by}" + (f" on {when}" if when else "")
    pdf.multi_cell(width, 5, pdf.text_of(signed), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.version > 1:
        amended = f"Amended report, version {doc.version}"
        if doc.amendment_reason:
            amended += f": {doc.amendment_reason}"
        pdf.multi_cell(width, 5, pdf.text_of(amended), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.report_id:
        pdf.cell(width, 5, f"VetPACS report {doc.report_id}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
