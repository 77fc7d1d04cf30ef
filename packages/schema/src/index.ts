export * from "./records.js";
export { SchemaError, ValidationError, ParseError, isSchemaError, formatLocation, type RecordLocation } from "./errors.js";
export { validateWith, validateRecord, formatPath } from "./validate.js";
