from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from members.imports.reader import UnreadableFile
from members.imports.report import report_default_path
from members.imports.runner import ON_CONFLICT, ImportRefused, cards_import


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        source, separator, target = pair.rpartition("=")
        if not separator or not source.strip() or not target.strip():
            raise CommandError(f'--map takes "Source header=field", not {pair!r}')
        mapping[source.strip()] = target.strip()
    return mapping


class Command(BaseCommand):
    help = (
        "Import a legacy card base (CSV or XLSX): members, cards and opening balances. "
        "All or nothing; rows with problems are skipped and listed in a report."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="Check everything, write nothing."
        )
        parser.add_argument("--encoding", default="auto", help="auto (UTF-8 or cp1251), or a codec")
        parser.add_argument(
            "--delimiter", default="auto", help="auto (comma, semicolon or tab), or the character"
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="HEADER=FIELD",
            help="Which field a column holds, when its header is not recognised.",
        )
        parser.add_argument("--on-conflict", choices=ON_CONFLICT, default="skip")
        parser.add_argument(
            "--report", type=Path, help="Where to write the report (default: beside the file)."
        )

    def handle(self, *args, file: Path, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        report = options["report"] or report_default_path(file)
        try:
            summary = cards_import(
                file,
                on_conflict=options["on_conflict"],
                dry_run=options["dry_run"],
                encoding=options["encoding"],
                delimiter=options["delimiter"],
                mapping=_mapping(options["map"]),
                report_path=report,
                progress=lambda rows: self.stderr.write(f"{rows} rows read…"),
            )
        except (UnreadableFile, ImportRefused) as error:
            raise CommandError(str(error)) from None
        columns = ", ".join(f"{source} → {target}" for source, target in summary.columns.items())
        self.stdout.write(f"Columns: {columns}")
        if summary.encoding:
            self.stdout.write(f"Encoding {summary.encoding}, delimiter {summary.delimiter!r}")
        for line in summary.lines():
            self.stdout.write(line)
