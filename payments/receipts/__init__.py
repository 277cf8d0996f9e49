"""Receipts (回单) of settled payments: facts, Chinese capital amounts, signed PDFs and their verification."""
