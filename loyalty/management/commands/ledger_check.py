from django.core.management.base import BaseCommand

from loyalty.ledger.check import CHECKS, SAMPLE, ledger_breaches


class Command(BaseCommand):
    help = "Verify every ledger invariant; exit 1 with a report if any is breached."

    def handle(self, *args, **options):
        breaches = {b.invariant: b for b in ledger_breaches()}
        for invariant, _sql in CHECKS:
            breach = breaches.get(invariant)
            if breach is None:
                self.stdout.write(f"ok      {invariant}")
                continue
            self.stdout.write(self.style.ERROR(f"BREACH  {invariant}"))
            for row in breach.rows:
                self.stdout.write(f"          {row}")
            if len(breach.rows) == SAMPLE:
                self.stdout.write(f"          (first {SAMPLE} rows shown)")
        if breaches:
            self.stderr.write(self.style.ERROR(f"{len(breaches)} invariant(s) breached."))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Ledger consistent."))
