//! Priority from impact and urgency through an editable matrix.

use serde::{Deserialize, Serialize};
use watchfloor_model::incident::Grade;
use watchfloor_model::Severity;

/// Rows are impact (high, medium, low), columns urgency (high, medium,
/// low); cells are priorities 1 (critical) to 5 (planning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityMatrix {
    pub cells: [[u8; 3]; 3],
}

impl Default for PriorityMatrix {
    /// ITIL's 3x3: high/high is 1, low/low is 5.
    fn default() -> Self {
        PriorityMatrix {
            cells: [[1, 2, 3], [2, 3, 4], [3, 4, 5]],
        }
    }
}

impl PriorityMatrix {
    pub fn priority(&self, impact: Grade, urgency: Grade) -> u8 {
        self.cells[impact.index()][urgency.index()]
    }

    /// Every problem with a matrix someone edited.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, row) in self.cells.iter().enumerate() {
            for (u, &p) in row.iter().enumerate() {
                if !(1..=5).contains(&p) {
                    out.push(format!(
                        "priority matrix: impact {} / urgency {} is {p}, expected 1 to 5",
                        Grade::ALL[i].as_str(),
                        Grade::ALL[u].as_str()
                    ));
                }
            }
        }
        out
    }
}

/// Impact and urgency a new incident starts with, from its alert level.
pub fn grades_for_level(level: Severity) -> (Grade, Grade) {
    match level {
        Severity::Critical => (Grade::High, Grade::High),
        Severity::High => (Grade::High, Grade::Medium),
        Severity::Medium => (Grade::Medium, Grade::Medium),
        Severity::Low => (Grade::Low, Grade::Medium),
        Severity::Informational => (Grade::Low, Grade::Low),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itil_defaults() {
        let m = PriorityMatrix::default();
        assert_eq!(m.priority(Grade::High, Grade::High), 1);
        assert_eq!(m.priority(Grade::High, Grade::Low), 3);
        assert_eq!(m.priority(Grade::Low, Grade::High), 3);
        assert_eq!(m.priority(Grade::Medium, Grade::Medium), 3);
        assert_eq!(m.priority(Grade::Low, Grade::Low), 5);
        assert!(m.problems().is_empty());
    }

    #[test]
    fn out_of_range_cells_are_named() {
        let mut m = PriorityMatrix::default();
        m.cells[0][2] = 9;
        let p = m.problems();
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("impact high / urgency low is 9"), "{p:?}");
    }
}
