//! A ticket table as CSV: the rows of the current filter, in its order, dates in the reader's zone.

use chrono_tz::Tz;

use super::format::timestamp;
use crate::domain::ticket::TicketNumber;
use crate::store::TicketRow;

/// A cell a spreadsheet would run as a formula is prefixed with a quote.
/// Cells a spreadsheet would run as a formula are prefixed with `'` (OWASP CSV injection).
fn csv_cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() }
}

/// The table with its header; support's queue names each ticket's account too.
pub fn render(rows: &[TicketRow], zone: Tz, with_account: bool) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "Ticket Number",
        "Ticket Summary",
        "Ticket Severity",
        "Ticket Status",
        "Created Date",
        "Created Date (UTC)",
        "Closure Requested",
    ];
    if with_account {
        header.insert(1, "Account");
    }
    writer.write_record(&header)?;
    for row in rows {
        let created = timestamp(row.created_at, zone);
        let severity = row.severity.map_or("", |s| s.name());
        let mut record = vec![
            TicketNumber::from_id(row.id).to_string(),
            csv_cell(&row.summary),
            severity.to_string(),
            row.status.name().to_string(),
            created.local,
            created.iso,
            if row.closure_requested_at.is_some() { "yes".into() } else { "no".into() },
        ];
        if with_account {
            record.insert(1, csv_cell(&format!("{} ({})", row.account_name, row.account_number)));
        }
        writer.write_record(&record)?;
    }
    Ok(writer.into_inner()?)
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("Brute force"), "Brute force");
    }
}
