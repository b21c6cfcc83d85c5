// Plain-text tables for lists: padded columns under an upper-case header.
export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
  /** Applied after padding, so escape codes do not upset the alignment. */
  style?: (padded: string, row: Row) => string;
}

export function formatTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((column) => column.value(row)));
  const widths = columns.map((column, index) => Math.max(column.header.length, ...cells.map((line) => line[index]!.length)));
  const pad = (text: string, index: number) => (index === columns.length - 1 ? text : text.padEnd(widths[index]!));
  const header = columns.map((column, index) => pad(column.header, index)).join('  ');
  const lines = rows.map((row, rowIndex) =>
    columns
      .map((column, index) => {
        const padded = pad(cells[rowIndex]![index]!, index);
        return column.style ? column.style(padded, row) : padded;
      })
      .join('  '),
  );
  return [header.trimEnd(), ...lines.map((line) => line.trimEnd())].join('\n') + '\n';
}
