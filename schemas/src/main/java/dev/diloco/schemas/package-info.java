/**
 * Avro records of every topic of a run. The classes are generated from {@code src/main/avro};
 * {@link dev.diloco.schemas.SchemaHistory} keeps every released version of each schema, so a
 * reader decodes records written by any earlier version and tests keep each change compatible.
 */
package dev.diloco.schemas;
