"""JSON bodies built from what capture and state hold: one function per thing published."""
