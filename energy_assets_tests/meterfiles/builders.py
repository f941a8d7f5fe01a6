"""Small meter files built in the tests: NEM12 text, Green Button ESPI XML and CSV."""

from __future__ import annotations

from datetime import date, datetime, timedelta


def nem12_300(day: date, values: list[float | str], quality: str = "A") -> str:
    """A 300 record: the day's interval values, quality method, reason code and description,
    update time, MSATS load time."""
    cells = [str(v) for v in values]
    stamp = (day + timedelta(days=1)).strftime("%Y%m%d") + "120000"
    return ",".join(["300", day.strftime("%Y%m%d"), *cells, quality, "", "", stamp, stamp])


def nem12_200(nmi: str, suffix: str, uom: str = "kWh", minutes: int = 30) -> str:
    return f"200,{nmi},E1Q1,1,{suffix},N1,METER{suffix},{uom},{minutes},"


def nem12_file(blocks: list[str], header: bool = True, end: bool = True) -> str:
    lines = (["100,NEM12,202401010000,MDP1,RETAILER1"] if header else []) + blocks
    return "\n".join(lines + (["900"] if end else [])) + "\n"


def espi_feed(
    readings: list[tuple[datetime, int, int, int | None]],
    tz_offset: int = -18000,
    dst: bool = True,
    uom: int = 72,
    multiplier: int = 0,
    kind: int = 0,
) -> str:
    """An ESPI feed with one UsagePoint, one MeterReading, its ReadingType, LocalTimeParameters
    (US Eastern rules when ``dst``) and one IntervalBlock of ``(start_utc, seconds, value,
    quality)`` readings."""
    base = "https://utility.example/espi/1_1/resource/RetailCustomer/cust9/UsagePoint/up1"

    def entry(self_link: str, up: str, content: str, related: list[str] = ()) -> str:
        links = [f'<link rel="self" href="{self_link}"/>', f'<link rel="up" href="{up}"/>']
        links += [f'<link rel="related" href="{r}"/>' for r in related]
        return f"<entry><title>t</title>{''.join(links)}<content>{content}</content></entry>"

    def reading(start: datetime, seconds: int, value: int, quality: int | None) -> str:
        q = (
            ""
            if quality is None
            else f"<ReadingQuality><quality>{quality}</quality></ReadingQuality>"
        )
        epoch = int(start.timestamp())
        return (
            f"<IntervalReading>{q}<timePeriod><duration>{seconds}</duration><start>{epoch}</start>"
            f"</timePeriod><value>{value}</value></IntervalReading>"
        )

    first = int(readings[0][0].timestamp()) if readings else 0
    total = sum(r[1] for r in readings)
    dst_rules = (
        "<dstEndRule>B40E2000</dstEndRule><dstOffset>3600</dstOffset>"
        "<dstStartRule>360E2000</dstStartRule>"
        if dst
        else "<dstOffset>0</dstOffset>"
    )
    entries = [
        entry(
            "https://utility.example/espi/1_1/resource/LocalTimeParameters/1",
            "https://utility.example/espi/1_1/resource/LocalTimeParameters",
            f'<LocalTimeParameters xmlns="http://naesb.org/espi">{dst_rules}'
            f"<tzOffset>{tz_offset}</tzOffset></LocalTimeParameters>",
        ),
        entry(
            base,
            base.rsplit("/", 1)[0],
            f'<UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>{kind}</kind>'
            "</ServiceCategory></UsagePoint>",
            [f"{base}/MeterReading"],
        ),
        entry(
            f"{base}/MeterReading/mr1",
            f"{base}/MeterReading",
            '<MeterReading xmlns="http://naesb.org/espi"/>',
            [
                "https://utility.example/espi/1_1/resource/ReadingType/rt1",
                f"{base}/MeterReading/mr1/IntervalBlock",
            ],
        ),
        entry(
            "https://utility.example/espi/1_1/resource/ReadingType/rt1",
            "https://utility.example/espi/1_1/resource/ReadingType",
            '<ReadingType xmlns="http://naesb.org/espi"><accumulationBehaviour>4'
            "</accumulationBehaviour><commodity>1</commodity><flowDirection>1</flowDirection>"
            f"<kind>12</kind><powerOfTenMultiplier>{multiplier}</powerOfTenMultiplier>"
            f"<uom>{uom}</uom></ReadingType>",
        ),
        entry(
            f"{base}/MeterReading/mr1/IntervalBlock/1",
            f"{base}/MeterReading/mr1/IntervalBlock",
            '<IntervalBlock xmlns="http://naesb.org/espi"><interval>'
            f"<duration>{total}</duration><start>{first}</start></interval>"
            + "".join(reading(*r) for r in readings)
            + "</IntervalBlock>",
        ),
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:uuid:1</id><title>Green Button</title>'
        + "".join(entries)
        + "</feed>\n"
    )


def greenbutton_csv(
    days: list[date],
    minutes: int = 15,
    value: str = "0.25",
    unit: str = "kWh",
    holes: dict[tuple[date, int], str] | None = None,
    account: str | None = "1234567890",
    export: bool = False,
) -> str:
    """A "Download My Data" CSV: account lines, then one row per interval with an inclusive
    END TIME (00:00-00:14), as PG&E writes it; ``holes`` replaces single values."""
    holes = holes or {}
    lines = []
    if account:
        lines += [
            "Name,JANE DOE",
            'Address,"1 MAIN ST, SPRINGFIELD CA"',
            f"Account Number,{account}",
        ]
        lines += ["Service,Service 1", ""]
    if export:
        lines.append("TYPE,DATE,START TIME,END TIME,IMPORT (kWh),EXPORT (kWh),NOTES")
    else:
        lines.append("TYPE,DATE,START TIME,END TIME,USAGE,UNITS,COST,NOTES")
    for day in days:
        for i in range(24 * 60 // minutes):
            start = i * minutes
            end = start + minutes - 1
            cell = holes.get((day, i), value)
            times = f"{start // 60:02d}:{start % 60:02d},{end // 60:02d}:{end % 60:02d}"
            if export:
                lines.append(f"Electric usage,{day.isoformat()},{times},{cell},0.10,")
            else:
                lines.append(f"Electric usage,{day.isoformat()},{times},{cell},{unit},$0.05,")
    return "\n".join(lines) + "\n"
